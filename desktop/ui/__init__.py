"""The Qt window, its table model, dialogs, tabs and tray. The only package that imports Qt."""
