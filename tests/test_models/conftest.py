import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    """The model tests use tiny tensors: intra-op threads only add overhead, and on a busy
    machine their synchronisation makes each op wait for a free core (3 min instead of 15 s
    on 2 shared cores). The previous setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
