//! H.264: the software encoder ([`x264`]) and the H.264 syntax that stripecast writes itself
//! ([`bitstream`]). The hardware encoders live in [`crate::encode::hw`].

pub mod bitstream;
pub mod x264;
