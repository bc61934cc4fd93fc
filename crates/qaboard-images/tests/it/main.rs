//! One test binary for image rendering and the auto-ROI finder on real image files,
//! one module per area, linked once.
mod auto_rois;
mod render;
