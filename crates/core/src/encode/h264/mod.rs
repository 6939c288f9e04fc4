//! H.264: the software encoder ([`x264`]), the rules every H.264 encoder here shares
//! ([`policy`]) and the H.264 syntax stripecast writes itself ([`bitstream`]). The hardware
//! encoders live in [`crate::encode::hw`]; they use `policy` and `bitstream`, never `x264`.

pub mod bitstream;
pub mod policy;
pub mod x264;
