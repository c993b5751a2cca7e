"""Tools built on the algorithm: compare methods, what-if sweeps, the robustness matrix, bench."""
