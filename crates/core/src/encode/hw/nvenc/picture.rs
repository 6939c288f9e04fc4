//! Encoding one picture: upload into the input buffer, submission, reading the bitstream back.

use super::session::NvencEncoder;
use super::sys::*;
use super::NvencError;
use crate::encode::colour::{write_nv12, YuvPlanes};
use crate::encode::h264::policy;
use crate::encode::hw::dylib::zeroed;
use crate::encode::{
    encode_or_truncate, BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind,
    StreamParams,
};

impl NvencEncoder {
    fn encode_frame(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, NvencError> {
        self.planes
            .convert(image)
            .map_err(|e| NvencError::new("convert", e.to_string()))?;
        let fl = *self.api.fl;
        let _ctx = self.push()?;
        let StreamParams { width, height, .. } = self.cfg.params;
        let (w, h) = (width as usize, height as usize);

        // Upload.
        // SAFETY: zeroed + versioned struct; the input buffer belongs to this session.
        let mut lock = unsafe { zeroed::<LockInputBuffer>() };
        lock.version = NV_ENC_LOCK_INPUT_BUFFER_VER;
        lock.input_buffer = self.input;
        let st = unsafe { fl.nv_enc_lock_input_buffer.unwrap()(self.enc, &mut *lock) };
        self.check("nvEncLockInputBuffer", st)?;
        let pitch = lock.pitch as usize;
        let upload = if lock.buffer_data_ptr.is_null() || pitch < w {
            Err(NvencError::new(
                "nvEncLockInputBuffer",
                format!("the driver returned a bad buffer (pitch {pitch} for width {w})"),
            ))
        } else {
            let len = pitch
                * h
                * if self.buffer_fmt == NV_ENC_BUFFER_FORMAT_NV12 {
                    3
                } else {
                    6
                }
                / 2;
            // SAFETY: a locked NV12 input buffer holds `pitch * height * 3/2` bytes, a YUV444
            // one `pitch * height * 3`, valid until unlocked below; nothing else aliases it.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(lock.buffer_data_ptr.cast::<u8>(), len) };
            if self.buffer_fmt == NV_ENC_BUFFER_FORMAT_NV12 {
                write_nv12(&self.planes, dst, (0, pitch), (pitch * h, pitch));
            } else {
                write_yuv444(&self.planes, dst, pitch);
            }
            Ok(())
        };
        let st = unsafe { fl.nv_enc_unlock_input_buffer.unwrap()(self.enc, self.input) };
        upload?;
        self.check("nvEncUnlockInputBuffer", st)?;

        // A paint-over is an IDR at the paint-over QP.
        let paint = request.paint_over && self.paint_over_qp != self.qp && self.can_reconfigure;
        if paint != self.paint_over_active {
            let qp = if paint { self.paint_over_qp } else { self.qp };
            match self.reconfigure(qp, paint) {
                Ok(()) => self.paint_over_active = paint,
                Err(e) => {
                    self.can_reconfigure = false;
                    self.paint_over_active = false;
                    self.notes.push(format!(
                        "{e}; paint-overs are plain IDRs at the normal QP from now on"
                    ));
                    // The session keeps whatever QP it had; put it back if it was raised.
                    if !paint {
                        self.config.rc_params.const_qp = self.qp;
                    }
                }
            }
        }

        let key = policy::forced_idr(request, self.frames == 0);
        // SAFETY: zeroed + versioned; buffers belong to this session.
        let mut pic = unsafe { zeroed::<PicParams>() };
        pic.version = NV_ENC_PIC_PARAMS_VER;
        pic.input_width = width;
        pic.input_height = height;
        pic.input_pitch = pitch as u32;
        pic.encode_pic_flags = if key {
            NV_ENC_PIC_FLAG_FORCEIDR | NV_ENC_PIC_FLAG_OUTPUT_SPSPPS
        } else {
            0
        };
        pic.frame_idx = self.frames as u32;
        pic.input_time_stamp = self.frames;
        pic.input_buffer = self.input;
        pic.output_bitstream = self.output;
        pic.buffer_fmt = self.buffer_fmt;
        pic.picture_struct = NV_ENC_PIC_STRUCT_FRAME;
        let st = unsafe { fl.nv_enc_encode_picture.unwrap()(self.enc, &mut *pic) };
        self.frames += 1;
        if st == NV_ENC_ERR_NEED_MORE_INPUT {
            return Ok(EncodeOutcome {
                key: false,
                produced: false,
                joins_blocks: false,
            });
        }
        self.check("nvEncEncodePicture", st)?;

        // SAFETY: zeroed + versioned; the bitstream buffer belongs to this session.
        let mut lb = unsafe { zeroed::<LockBitstream>() };
        lb.version = NV_ENC_LOCK_BITSTREAM_VER;
        lb.output_bitstream = self.output;
        let st = unsafe { fl.nv_enc_lock_bitstream.unwrap()(self.enc, &mut *lb) };
        self.check("nvEncLockBitstream", st)?;
        let size = lb.bitstream_size_in_bytes as usize;
        if size > 0 && !lb.bitstream_buffer_ptr.is_null() {
            // SAFETY: the locked bitstream holds `bitstreamSizeInBytes` bytes until unlocked.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(lb.bitstream_buffer_ptr.cast::<u8>(), size)
            });
        }
        let st = unsafe { fl.nv_enc_unlock_bitstream.unwrap()(self.enc, self.output) };
        self.check("nvEncUnlockBitstream", st)?;
        Ok(EncodeOutcome {
            key: lb.picture_type == NV_ENC_PIC_TYPE_IDR,
            produced: size > 0,
            joins_blocks: false,
        })
    }
}

/// Writes I444 planes as three consecutive planes of `height` rows, `pitch` bytes apart.
fn write_yuv444(planes: &YuvPlanes, dst: &mut [u8], pitch: usize) {
    let (w, h) = (planes.width() as usize, planes.height() as usize);
    for (i, plane) in [planes.y(), planes.u(), planes.v()].into_iter().enumerate() {
        let base = i * pitch * h;
        for (row, src) in plane.chunks_exact(w).enumerate() {
            dst[base + row * pitch..base + row * pitch + w].copy_from_slice(src);
        }
    }
}

impl Encoder for NvencEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        encode_or_truncate(out, |out| self.encode_frame(image, request, out))
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Nvenc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::colour::ChromaLayout;

    fn planes_of(w: u32, h: u32, layout: ChromaLayout) -> YuvPlanes {
        let mut px = vec![0u8; (w * h * 4) as usize];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            p.copy_from_slice(&[(x * 37) as u8, (y * 11) as u8, (x * y) as u8, 0]);
        }
        let mut planes = YuvPlanes::new(w, h, layout).unwrap();
        planes.convert(BgrxImage::packed(&px, w, h)).unwrap();
        planes
    }

    #[test]
    fn yuv444_upload_writes_three_planes_at_pitch() {
        let (w, h, pitch) = (5u32, 3u32, 8usize);
        let planes = planes_of(w, h, ChromaLayout::I444);
        let mut dst = vec![0u8; pitch * h as usize * 3];
        write_yuv444(&planes, &mut dst, pitch);
        for (i, plane) in [planes.y(), planes.u(), planes.v()].into_iter().enumerate() {
            for y in 0..h as usize {
                let at = i * pitch * 3 + y * pitch;
                assert_eq!(&dst[at..at + 5], &plane[y * 5..y * 5 + 5]);
            }
        }
    }
}
