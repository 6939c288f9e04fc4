//! Encoding one picture: its parameter buffers, the packed headers and the submission.

use std::ffi::c_int;

use super::session::VaapiEncoder;
use super::sys::*;
use super::VaapiError;
use crate::encode::h264::bitstream::{self, stream_slice, Pps, Sps};
use crate::encode::h264::policy;
use crate::encode::hw::dylib::zeroed;
use crate::encode::{
    encode_or_truncate, BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind,
};

/// `seq_fields` of the sequence parameter buffer for `sps`.
fn seq_fields(sps: &Sps) -> u32 {
    (sps.chroma_format_idc & 3)
        | 1 << 2 // frame_mbs_only_flag
        | u32::from(sps.direct_8x8_inference) << 5
        | (sps.log2_max_frame_num_minus4 & 0xf) << 6
        | (sps.pic_order_cnt_type & 3) << 10
        | (sps.log2_max_pic_order_cnt_lsb_minus4 & 0xf) << 12
}

/// The sequence parameter buffer matching `sps`.
fn sequence_params(sps: &Sps, keyint: u32) -> Box<EncSequenceParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncSequenceParameterBufferH264>() };
    p.seq_parameter_set_id = sps.sps_id as u8;
    p.level_idc = sps.level_idc;
    // Informational in constant-QP mode; IDRs are decided per picture.
    let period = policy::gop_length(keyint, u32::from(u16::MAX));
    p.intra_period = period;
    p.intra_idr_period = period;
    p.ip_period = 1;
    p.max_num_ref_frames = sps.max_num_ref_frames;
    p.picture_width_in_mbs = sps.width_in_mbs as u16;
    p.picture_height_in_mbs = sps.height_in_mbs as u16;
    p.seq_fields = seq_fields(sps);
    p.bit_depth_luma_minus8 = sps.bit_depth_luma_minus8 as u8;
    p.bit_depth_chroma_minus8 = sps.bit_depth_chroma_minus8 as u8;
    if let Some((l, r, t, b)) = sps.crop {
        p.frame_cropping_flag = 1;
        p.frame_crop_left_offset = l;
        p.frame_crop_right_offset = r;
        p.frame_crop_top_offset = t;
        p.frame_crop_bottom_offset = b;
    }
    if let Some(vui) = &sps.vui {
        p.vui_parameters_present_flag = 1;
        let mut f = 0u32;
        if let Some(br) = vui.bitstream_restriction {
            f |= 1 << 2
                | (br.log2_max_mv_length_horizontal & 0x1f) << 3
                | (br.log2_max_mv_length_vertical & 0x1f) << 8
                | u32::from(br.motion_vectors_over_pic_boundaries) << 15;
        }
        if let Some(t) = vui.timing {
            f |= 1 << 1 | u32::from(t.fixed_frame_rate) << 13;
            p.num_units_in_tick = t.num_units_in_tick;
            p.time_scale = t.time_scale;
        }
        p.vui_fields = f;
    }
    p
}

/// `pic_fields` of the picture parameter buffer.
fn pic_fields(idr: bool, pps: &Pps) -> u32 {
    u32::from(idr)
        | 1 << 1 // reference_pic_flag
        | u32::from(pps.entropy_coding_mode) << 3
        | u32::from(pps.deblocking_filter_control_present) << 9
}

/// The encoder's view of one picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PictureSetup {
    idr: bool,
    frame_num: u32,
    /// Picture order count (POC type 2: twice the pictures since the IDR).
    poc: i32,
    recon: VaSurfaceId,
    /// The previous reconstructed picture (P pictures).
    reference: Option<(VaSurfaceId, u32, i32)>,
    idr_pic_id: u32,
    qp: u8,
}

fn picture_params(
    s: &PictureSetup,
    pps: &Pps,
    coded: VaBufferId,
) -> Box<EncPictureParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncPictureParameterBufferH264>() };
    p.curr_pic = PictureH264 {
        picture_id: s.recon,
        frame_idx: s.frame_num,
        flags: 0,
        top_field_order_cnt: s.poc,
        bottom_field_order_cnt: s.poc,
        ..PictureH264::default()
    };
    p.reference_frames = [PictureH264::INVALID; 16];
    if let Some((surface, frame_num, poc)) = s.reference {
        p.reference_frames[0] = PictureH264 {
            picture_id: surface,
            frame_idx: frame_num,
            flags: VA_PICTURE_H264_SHORT_TERM_REFERENCE,
            top_field_order_cnt: poc,
            bottom_field_order_cnt: poc,
            ..PictureH264::default()
        };
    }
    p.coded_buf = coded;
    p.pic_parameter_set_id = pps.pps_id as u8;
    p.seq_parameter_set_id = pps.sps_id as u8;
    p.frame_num = s.frame_num as u16;
    p.pic_init_qp = (26 + pps.pic_init_qp_minus26) as u8;
    p.chroma_qp_index_offset = pps.chroma_qp_index_offset as i8;
    p.second_chroma_qp_index_offset = pps.chroma_qp_index_offset as i8;
    p.pic_fields = pic_fields(s.idr, pps);
    p
}

fn slice_params(
    s: &PictureSetup,
    pps: &Pps,
    mbs: u32,
    slice_qp_delta: i8,
) -> Box<EncSliceParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncSliceParameterBufferH264>() };
    p.macroblock_address = 0;
    p.num_macroblocks = mbs;
    p.macroblock_info = VA_INVALID_ID;
    p.slice_type = if s.idr {
        bitstream::SLICE_I as u8
    } else {
        bitstream::SLICE_P as u8
    };
    p.pic_parameter_set_id = pps.pps_id as u8;
    p.idr_pic_id = s.idr_pic_id as u16;
    p.ref_pic_list0 = [PictureH264::INVALID; 32];
    p.ref_pic_list1 = [PictureH264::INVALID; 32];
    if let (false, Some((surface, frame_num, poc))) = (s.idr, s.reference) {
        p.ref_pic_list0[0] = PictureH264 {
            picture_id: surface,
            frame_idx: frame_num,
            flags: VA_PICTURE_H264_SHORT_TERM_REFERENCE,
            top_field_order_cnt: poc,
            bottom_field_order_cnt: poc,
            ..PictureH264::default()
        };
    }
    p.slice_qp_delta = slice_qp_delta;
    p
}

impl VaapiEncoder {
    fn encode_frame(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, VaapiError> {
        self.planes
            .convert(image)
            .map_err(|e| VaapiError::new("convert", e.to_string()))?;
        self.upload()?;
        let keyint = self.cfg.params.keyframe_interval_frames;
        let idr = policy::idr_due(request, self.last.is_none(), self.since_idr, keyint);
        if idr {
            self.since_idr = 0;
            if self.frames > 0 {
                self.idr_pic_id = (self.idr_pic_id + 1) % 65536;
            }
        }
        let frame_num = self.since_idr % 256;
        let poc = 2 * (self.since_idr % (1 << 15)) as i32;
        let recon_index = match self.last {
            Some((1, _, _)) => 2,
            _ => 1,
        };
        let setup = PictureSetup {
            idr,
            frame_num,
            poc,
            recon: self.surfaces[recon_index],
            reference: (!idr)
                .then_some(self.last)
                .flatten()
                .map(|(i, f, p)| (self.surfaces[i], f, p)),
            idr_pic_id: self.idr_pic_id,
            qp: if request.paint_over {
                self.paint_over_qp
            } else if idr {
                self.qp_i
            } else {
                self.qp_p
            },
        };
        let slice_qp_delta = i32::from(setup.qp) - i32::from(self.qp_p);
        let mbs = self.sps.width_in_mbs * self.sps.height_in_mbs;

        let mut buffers = Vec::with_capacity(9);
        let result = (|| -> Result<(), VaapiError> {
            if idr {
                let seq = sequence_params(&self.sps, keyint);
                buffers.push(self.create_buffer(VA_ENC_SEQUENCE_PARAMETER_BUFFER_TYPE, &*seq)?);
            }
            let pic = picture_params(&setup, &self.pps, self.coded);
            buffers.push(self.create_buffer(VA_ENC_PICTURE_PARAMETER_BUFFER_TYPE, &*pic)?);
            if idr && self.packed & VA_ENC_PACKED_HEADER_SEQUENCE != 0 {
                let nal = self.sps.nal();
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_SEQUENCE,
                    &nal,
                    nal.len() * 8,
                    true,
                    &mut buffers,
                )?;
            }
            if idr && self.packed & VA_ENC_PACKED_HEADER_PICTURE != 0 {
                let nal = self.pps.nal();
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_PICTURE,
                    &nal,
                    nal.len() * 8,
                    true,
                    &mut buffers,
                )?;
            }
            if self.packed & VA_ENC_PACKED_HEADER_SLICE != 0 {
                let header = stream_slice(idr, frame_num, self.idr_pic_id, slice_qp_delta);
                let (bytes, bits) = header.packed(&self.sps, &self.pps);
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_SLICE,
                    &bytes,
                    bits,
                    false,
                    &mut buffers,
                )?;
            }
            let slice = slice_params(&setup, &self.pps, mbs, slice_qp_delta as i8);
            buffers.push(self.create_buffer(VA_ENC_SLICE_PARAMETER_BUFFER_TYPE, &*slice)?);

            let (va, dpy) = (&self.va, self.display.dpy);
            // SAFETY: valid context, input surface and buffers created above.
            va.check("vaBeginPicture", unsafe {
                (va.begin_picture)(dpy, self.context, self.surfaces[0])
            })?;
            va.check("vaRenderPicture", unsafe {
                (va.render_picture)(
                    dpy,
                    self.context,
                    buffers.as_mut_ptr(),
                    buffers.len() as c_int,
                )
            })?;
            va.check("vaEndPicture", unsafe {
                (va.end_picture)(dpy, self.context)
            })?;
            va.check("vaSyncSurface", unsafe {
                (va.sync_surface)(dpy, self.surfaces[0])
            })
        })();
        for id in buffers {
            // SAFETY: each parameter buffer is destroyed once, after the picture ended.
            unsafe { (self.va.destroy_buffer)(self.display.dpy, id) };
        }
        result?;

        let start = out.len();
        self.read_coded(out)?;
        self.frames += 1;
        self.since_idr += 1;
        self.last = Some((recon_index, frame_num, poc));
        Ok(EncodeOutcome {
            key: idr,
            produced: out.len() > start,
            joins_blocks: false,
        })
    }
}

impl Encoder for VaapiEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        encode_or_truncate(out, |out| self.encode_frame(image, request, out))
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Vaapi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::h264::bitstream::{stream_pps, stream_sps, Profile};

    #[test]
    fn parameter_buffers_carry_the_headers_values() {
        let sps = stream_sps(Profile::High, 1920, 1080, 60.0);
        let pps = stream_pps(Profile::High, 23);
        let seq = sequence_params(&sps, 0);
        assert_eq!(seq.level_idc, 42);
        assert_eq!(
            (seq.picture_width_in_mbs, seq.picture_height_in_mbs),
            (120, 68)
        );
        // chroma 1 | frame_mbs_only << 2 | direct_8x8 << 5 | log2_max_frame_num_minus4 4 << 6
        // | poc type 2 << 10.
        assert_eq!(seq.seq_fields, 1 | 1 << 2 | 1 << 5 | 4 << 6 | 2 << 10);
        assert_eq!(seq.frame_cropping_flag, 1);
        assert_eq!(seq.frame_crop_bottom_offset, 4);
        assert_eq!(seq.vui_parameters_present_flag, 1);
        // bitstream_restriction << 2 | 15 << 3 | 15 << 8 | mv over boundaries << 15.
        assert_eq!(seq.vui_fields, 1 << 2 | 15 << 3 | 15 << 8 | 1 << 15);
        assert_eq!(seq.intra_period, 65535);
        assert_eq!(seq.ip_period, 1);

        let setup = PictureSetup {
            idr: false,
            frame_num: 5,
            poc: 10,
            recon: 7,
            reference: Some((8, 4, 8)),
            idr_pic_id: 2,
            qp: 23,
        };
        let pic = picture_params(&setup, &pps, 99);
        assert_eq!(pic.curr_pic.picture_id, 7);
        assert_eq!(pic.curr_pic.top_field_order_cnt, 10);
        assert_eq!(pic.reference_frames[0].picture_id, 8);
        assert_eq!(
            pic.reference_frames[0].flags,
            VA_PICTURE_H264_SHORT_TERM_REFERENCE
        );
        assert_eq!(pic.reference_frames[1], PictureH264::INVALID);
        assert_eq!(pic.coded_buf, 99);
        assert_eq!(pic.pic_init_qp, 23);
        assert_eq!(pic.frame_num, 5);
        // reference_pic_flag << 1 | CABAC << 3 | deblocking control << 9; not IDR.
        assert_eq!(pic.pic_fields, 1 << 1 | 1 << 3 | 1 << 9);
        let slice = slice_params(&setup, &pps, 8160, -3);
        assert_eq!(slice.num_macroblocks, 8160);
        assert_eq!(slice.slice_type, 0);
        assert_eq!(slice.ref_pic_list0[0].picture_id, 8);
        assert_eq!(slice.ref_pic_list0[1], PictureH264::INVALID);
        assert_eq!(slice.slice_qp_delta, -3);
        assert_eq!(slice.macroblock_info, VA_INVALID_ID);
        let idr = PictureSetup {
            idr: true,
            reference: None,
            ..setup
        };
        assert_eq!(picture_params(&idr, &pps, 1).pic_fields & 1, 1);
        let s = slice_params(&idr, &pps, 10, 0);
        assert_eq!(s.slice_type, 2);
        assert_eq!(s.idr_pic_id, 2);
        assert_eq!(s.ref_pic_list0[0], PictureH264::INVALID);
    }
}
