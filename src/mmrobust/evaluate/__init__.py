"""Task metrics (mAP, top-1) and seed 003's robustness metrics over the 7 x 7 matrix p(M_E, M_T)."""
