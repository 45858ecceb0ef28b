"""Building blocks shared by the editors: deformable convolution, warping, attention, ..."""
