"""Foundations every layer uses: errors, paths, files, progress, devices, settings (config), names."""
