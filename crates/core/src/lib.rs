//! stripecast-core: the plain-Rust heart of stripecast. X11 capture through MIT-SHM, stripe
//! change detection with XXH3, overlays, JPEG/H.264 encoders and the capture pipeline. No
//! Node.js here: the napi binding is a thin layer over this crate.

pub mod capture;
pub mod clipboard;
pub mod detect;
pub mod encode;
pub mod geometry;
pub mod input;
pub mod overlay;
pub mod pipeline;
pub mod screenshot;
pub mod scroll;
pub mod seams;
pub mod settings;
pub mod window;
pub mod wire;
pub mod workers;
pub mod xdisplay;
