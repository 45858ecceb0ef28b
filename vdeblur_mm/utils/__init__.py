from .benchmark import benchmark_model, count_parameters

__all__ = ['benchmark_model', 'count_parameters']
