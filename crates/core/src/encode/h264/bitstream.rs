//! H.264 sequence / picture parameter sets and slice headers, written bit by bit (ITU-T H.264
//! 7.3.2.1.1, 7.3.2.2, 7.3.3, E.1.1). Generic H.264 syntax, no VA-API in it: the VA-API
//! encoder hands these to the driver as packed headers.
//!
//! Pure code: a [`BitWriter`] (`u(n)`, `ue(v)`, `se(v)`), the NAL unit wrapper with
//! emulation prevention, and the three syntax structures for the subset of H.264 this
//! project emits: progressive frames (`frame_mbs_only_flag = 1`), one slice group, no scaling
//! matrices, no HRD, picture order count type 0 or 2, I and P slices only.
//!
//! The tests check the bits against hand-derived bytes for a 1920x1080 stream and against
//! what a real encoder writes: every SPS, PPS and slice header of an x264 stream is parsed with
//! FFmpeg's `trace_headers` bitstream filter, rebuilt from those values with this module and
//! compared bit for bit.

/// Writes bits most significant first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `u(n)`: the `bits` low bits of `value` (`bits` <= 32).
    pub fn u(&mut self, bits: u32, value: u32) {
        assert!(bits <= 32, "u({bits})");
        debug_assert!(
            bits == 32 || value >> bits == 0,
            "{value} does not fit u({bits})"
        );
        for i in (0..bits).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    /// One bit.
    pub fn bit(&mut self, b: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if b {
            *self.bytes.last_mut().expect("pushed") |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// `ue(v)`: Exp-Golomb, `value` < 2^32 - 1.
    pub fn ue(&mut self, value: u32) {
        let v = u64::from(value) + 1;
        let len = 64 - v.leading_zeros(); // bits of value + 1
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    /// `se(v)`: signed Exp-Golomb (k > 0 → 2k - 1, k <= 0 → -2k).
    pub fn se(&mut self, value: i32) {
        let v = i64::from(value);
        let code = if v > 0 { 2 * v - 1 } else { -2 * v };
        self.ue(u32::try_from(code).expect("se(v) out of range"));
    }

    /// `rbsp_trailing_bits()`: a one bit, then zeros to the byte boundary.
    pub fn trailing_bits(&mut self) {
        self.bit(true);
        while self.used != 0 {
            self.bit(false);
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        let full = self.bytes.len() * 8;
        if self.used == 0 {
            full
        } else {
            full - 8 + self.used as usize
        }
    }

    /// The bytes; a partial last byte is padded with zero bits.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Inserts `emulation_prevention_three_byte`s: any `00 00` followed by `00`..`03` gets a `03`
/// in between (7.4.1).
pub fn emulation_prevention(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// Removes emulation prevention bytes (the inverse of [`emulation_prevention`]).
pub fn strip_emulation_prevention(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// A complete Annex-B NAL unit: `00 00 00 01`, the NAL header, the RBSP with emulation
/// prevention.
pub fn nal_unit(nal_ref_idc: u8, nal_unit_type: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0,
        0,
        0,
        1,
        ((nal_ref_idc & 3) << 5) | (nal_unit_type & 0x1f),
    ];
    out.extend_from_slice(&emulation_prevention(rbsp));
    out
}

/// `aspect_ratio_info`: `aspect_ratio_idc`, and the SAR when it is 255 (Extended_SAR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AspectRatio {
    pub idc: u8,
    pub sar: (u16, u16),
}

/// `video_signal_type` of the VUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSignal {
    /// 0..=7; 5 = unspecified.
    pub video_format: u8,
    pub full_range: bool,
    /// (colour_primaries, transfer_characteristics, matrix_coefficients); 1 = BT.709.
    pub colour: Option<(u8, u8, u8)>,
}

/// `timing_info` of the VUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub num_units_in_tick: u32,
    pub time_scale: u32,
    pub fixed_frame_rate: bool,
}

/// `bitstream_restriction` of the VUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitstreamRestriction {
    pub motion_vectors_over_pic_boundaries: bool,
    pub max_bytes_per_pic_denom: u32,
    pub max_bits_per_mb_denom: u32,
    pub log2_max_mv_length_horizontal: u32,
    pub log2_max_mv_length_vertical: u32,
    /// 0: a decoder may output every picture as soon as it is decoded (what low latency needs).
    pub max_num_reorder_frames: u32,
    pub max_dec_frame_buffering: u32,
}

/// `vui_parameters()` without HRD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vui {
    pub aspect_ratio: Option<AspectRatio>,
    /// `overscan_appropriate_flag`, when present.
    pub overscan_appropriate: Option<bool>,
    pub video_signal: Option<VideoSignal>,
    /// (chroma_sample_loc_type_top_field, _bottom_field), when present.
    pub chroma_loc: Option<(u32, u32)>,
    pub timing: Option<Timing>,
    pub pic_struct_present: bool,
    pub bitstream_restriction: Option<BitstreamRestriction>,
}

/// `seq_parameter_set_rbsp()` for progressive frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    pub profile_idc: u8,
    /// constraint_set0_flag .. constraint_set5_flag in bits 7..2, reserved_zero_2bits.
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub sps_id: u32,
    /// Written only for the high profiles (100, 110, 122, 244, ...); 1 = 4:2:0.
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
    pub qpprime_y_zero_transform_bypass: bool,
    pub log2_max_frame_num_minus4: u32,
    /// 0 or 2.
    pub pic_order_cnt_type: u32,
    pub log2_max_pic_order_cnt_lsb_minus4: u32,
    pub max_num_ref_frames: u32,
    pub gaps_in_frame_num_allowed: bool,
    pub width_in_mbs: u32,
    pub height_in_mbs: u32,
    pub direct_8x8_inference: bool,
    /// (left, right, top, bottom) in crop units (2 luma samples for 4:2:0 frames).
    pub crop: Option<(u32, u32, u32, u32)>,
    pub vui: Option<Vui>,
}

/// Whether `profile_idc` carries the chroma format / bit depth fields in its SPS.
fn high_profile(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

impl Sps {
    /// `MaxFrameNum` bits.
    pub fn frame_num_bits(&self) -> u32 {
        self.log2_max_frame_num_minus4 + 4
    }

    pub fn rbsp(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.u(8, self.profile_idc.into());
        w.u(8, self.constraint_flags.into());
        w.u(8, self.level_idc.into());
        w.ue(self.sps_id);
        if high_profile(self.profile_idc) {
            w.ue(self.chroma_format_idc);
            if self.chroma_format_idc == 3 {
                w.bit(false); // separate_colour_plane_flag
            }
            w.ue(self.bit_depth_luma_minus8);
            w.ue(self.bit_depth_chroma_minus8);
            w.bit(self.qpprime_y_zero_transform_bypass);
            w.bit(false); // seq_scaling_matrix_present_flag
        }
        w.ue(self.log2_max_frame_num_minus4);
        assert!(
            self.pic_order_cnt_type == 0 || self.pic_order_cnt_type == 2,
            "pic_order_cnt_type {} is not supported",
            self.pic_order_cnt_type
        );
        w.ue(self.pic_order_cnt_type);
        if self.pic_order_cnt_type == 0 {
            w.ue(self.log2_max_pic_order_cnt_lsb_minus4);
        }
        w.ue(self.max_num_ref_frames);
        w.bit(self.gaps_in_frame_num_allowed);
        w.ue(self.width_in_mbs - 1);
        w.ue(self.height_in_mbs - 1);
        w.bit(true); // frame_mbs_only_flag
        w.bit(self.direct_8x8_inference);
        w.bit(self.crop.is_some());
        if let Some((l, r, t, b)) = self.crop {
            w.ue(l);
            w.ue(r);
            w.ue(t);
            w.ue(b);
        }
        w.bit(self.vui.is_some());
        if let Some(vui) = &self.vui {
            write_vui(&mut w, vui);
        }
        w.trailing_bits();
        w.into_bytes()
    }

    /// The SPS NAL unit (`nal_ref_idc` 3) with its start code.
    pub fn nal(&self) -> Vec<u8> {
        nal_unit(3, 7, &self.rbsp())
    }
}

fn write_vui(w: &mut BitWriter, vui: &Vui) {
    w.bit(vui.aspect_ratio.is_some());
    if let Some(ar) = vui.aspect_ratio {
        w.u(8, ar.idc.into());
        if ar.idc == 255 {
            w.u(16, ar.sar.0.into());
            w.u(16, ar.sar.1.into());
        }
    }
    w.bit(vui.overscan_appropriate.is_some());
    if let Some(o) = vui.overscan_appropriate {
        w.bit(o);
    }
    w.bit(vui.video_signal.is_some());
    if let Some(vs) = vui.video_signal {
        w.u(3, vs.video_format.into());
        w.bit(vs.full_range);
        w.bit(vs.colour.is_some());
        if let Some((p, t, m)) = vs.colour {
            w.u(8, p.into());
            w.u(8, t.into());
            w.u(8, m.into());
        }
    }
    w.bit(vui.chroma_loc.is_some());
    if let Some((top, bottom)) = vui.chroma_loc {
        w.ue(top);
        w.ue(bottom);
    }
    w.bit(vui.timing.is_some());
    if let Some(t) = vui.timing {
        w.u(32, t.num_units_in_tick);
        w.u(32, t.time_scale);
        w.bit(t.fixed_frame_rate);
    }
    w.bit(false); // nal_hrd_parameters_present_flag
    w.bit(false); // vcl_hrd_parameters_present_flag
    w.bit(vui.pic_struct_present);
    w.bit(vui.bitstream_restriction.is_some());
    if let Some(br) = vui.bitstream_restriction {
        w.bit(br.motion_vectors_over_pic_boundaries);
        w.ue(br.max_bytes_per_pic_denom);
        w.ue(br.max_bits_per_mb_denom);
        w.ue(br.log2_max_mv_length_horizontal);
        w.ue(br.log2_max_mv_length_vertical);
        w.ue(br.max_num_reorder_frames);
        w.ue(br.max_dec_frame_buffering);
    }
}

/// The High-profile tail of a PPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PpsHigh {
    pub transform_8x8_mode: bool,
    pub second_chroma_qp_index_offset: i32,
}

/// `pic_parameter_set_rbsp()` with one slice group and no scaling matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pps {
    pub pps_id: u32,
    pub sps_id: u32,
    /// CABAC (true) or CAVLC.
    pub entropy_coding_mode: bool,
    pub bottom_field_pic_order_in_frame_present: bool,
    pub num_ref_idx_l0_default_active_minus1: u32,
    pub num_ref_idx_l1_default_active_minus1: u32,
    pub weighted_pred: bool,
    pub weighted_bipred_idc: u32,
    pub pic_init_qp_minus26: i32,
    pub pic_init_qs_minus26: i32,
    pub chroma_qp_index_offset: i32,
    pub deblocking_filter_control_present: bool,
    pub constrained_intra_pred: bool,
    pub redundant_pic_cnt_present: bool,
    pub high: Option<PpsHigh>,
}

impl Pps {
    pub fn rbsp(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.ue(self.pps_id);
        w.ue(self.sps_id);
        w.bit(self.entropy_coding_mode);
        w.bit(self.bottom_field_pic_order_in_frame_present);
        w.ue(0); // num_slice_groups_minus1
        w.ue(self.num_ref_idx_l0_default_active_minus1);
        w.ue(self.num_ref_idx_l1_default_active_minus1);
        w.bit(self.weighted_pred);
        w.u(2, self.weighted_bipred_idc);
        w.se(self.pic_init_qp_minus26);
        w.se(self.pic_init_qs_minus26);
        w.se(self.chroma_qp_index_offset);
        w.bit(self.deblocking_filter_control_present);
        w.bit(self.constrained_intra_pred);
        w.bit(self.redundant_pic_cnt_present);
        if let Some(h) = self.high {
            w.bit(h.transform_8x8_mode);
            w.bit(false); // pic_scaling_matrix_present_flag
            w.se(h.second_chroma_qp_index_offset);
        }
        w.trailing_bits();
        w.into_bytes()
    }

    /// The PPS NAL unit (`nal_ref_idc` 3) with its start code.
    pub fn nal(&self) -> Vec<u8> {
        nal_unit(3, 8, &self.rbsp())
    }
}

/// `slice_type` values (7.4.3); +5 says every slice of the picture has this type.
pub const SLICE_P: u32 = 0;
pub const SLICE_I: u32 = 2;

/// `slice_header()` of an I or P slice of a progressive frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceHeader {
    pub nal_ref_idc: u8,
    /// An IDR picture (`nal_unit_type` 5; otherwise 1).
    pub idr: bool,
    pub first_mb_in_slice: u32,
    /// 0..=9 (see [`SLICE_P`], [`SLICE_I`]).
    pub slice_type: u32,
    pub pps_id: u32,
    pub frame_num: u32,
    pub idr_pic_id: u32,
    /// Written when the SPS uses `pic_order_cnt_type` 0.
    pub pic_order_cnt_lsb: u32,
    /// P slices: `Some(num_ref_idx_l0_active_minus1)` overrides the PPS default.
    pub num_ref_idx_active_override: Option<u32>,
    pub no_output_of_prior_pics: bool,
    pub long_term_reference: bool,
    /// Written for CABAC P slices.
    pub cabac_init_idc: u32,
    pub slice_qp_delta: i32,
    /// Written when the PPS has `deblocking_filter_control_present_flag`.
    pub disable_deblocking_filter_idc: u32,
    pub slice_alpha_c0_offset_div2: i32,
    pub slice_beta_offset_div2: i32,
}

impl SliceHeader {
    /// The NAL header byte and the slice header bits (no start code, no emulation
    /// prevention, not byte aligned: the slice data follows directly).
    pub fn write(&self, sps: &Sps, pps: &Pps) -> BitWriter {
        let mut w = BitWriter::new();
        w.u(
            8,
            u32::from(self.nal_ref_idc & 3) << 5 | if self.idr { 5 } else { 1 },
        );
        w.ue(self.first_mb_in_slice);
        w.ue(self.slice_type);
        w.ue(self.pps_id);
        w.u(sps.frame_num_bits(), self.frame_num);
        if self.idr {
            w.ue(self.idr_pic_id);
        }
        if sps.pic_order_cnt_type == 0 {
            w.u(
                sps.log2_max_pic_order_cnt_lsb_minus4 + 4,
                self.pic_order_cnt_lsb,
            );
            if pps.bottom_field_pic_order_in_frame_present {
                w.se(0); // delta_pic_order_cnt_bottom
            }
        }
        if pps.redundant_pic_cnt_present {
            w.ue(0);
        }
        let kind = self.slice_type % 5;
        assert!(
            kind == SLICE_P || kind == SLICE_I,
            "slice_type {} is not supported",
            self.slice_type
        );
        if kind == SLICE_P {
            w.bit(self.num_ref_idx_active_override.is_some());
            if let Some(n) = self.num_ref_idx_active_override {
                w.ue(n);
            }
            w.bit(false); // ref_pic_list_modification_flag_l0
            assert!(!pps.weighted_pred, "weighted prediction is not supported");
        }
        if self.nal_ref_idc != 0 {
            if self.idr {
                w.bit(self.no_output_of_prior_pics);
                w.bit(self.long_term_reference);
            } else {
                w.bit(false); // adaptive_ref_pic_marking_mode_flag
            }
        }
        if pps.entropy_coding_mode && kind != SLICE_I {
            w.ue(self.cabac_init_idc);
        }
        w.se(self.slice_qp_delta);
        if pps.deblocking_filter_control_present {
            w.ue(self.disable_deblocking_filter_idc);
            if self.disable_deblocking_filter_idc != 1 {
                w.se(self.slice_alpha_c0_offset_div2);
                w.se(self.slice_beta_offset_div2);
            }
        }
        w
    }

    /// The packed slice header handed to VA-API: start code, NAL header and header bits,
    /// with the length in bits.
    pub fn packed(&self, sps: &Sps, pps: &Pps) -> (Vec<u8>, usize) {
        let w = self.write(sps, pps);
        let bits = 32 + w.bit_len();
        let mut out = vec![0, 0, 0, 1];
        out.extend_from_slice(w.bytes());
        (out, bits)
    }
}

/// The H.264 profiles the VA-API encoder may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// profile_idc 66 with constraint_set0 and constraint_set1 (`avc1.42C0xx`), CAVLC.
    ConstrainedBaseline,
    /// profile_idc 77 with constraint_set1, CABAC.
    Main,
    /// profile_idc 100, CABAC.
    High,
}

impl Profile {
    pub fn profile_idc(self) -> u8 {
        match self {
            Profile::ConstrainedBaseline => 66,
            Profile::Main => 77,
            Profile::High => 100,
        }
    }

    fn constraint_flags(self) -> u8 {
        match self {
            Profile::ConstrainedBaseline => 0xC0,
            Profile::Main => 0x40,
            Profile::High => 0x00,
        }
    }

    pub fn cabac(self) -> bool {
        self != Profile::ConstrainedBaseline
    }
}

/// The lowest level (`level_idc`) whose frame size and macroblock rate limits (Table A-1)
/// admit `width_in_mbs` x `height_in_mbs` at `fps`.
pub fn level_for(width_in_mbs: u32, height_in_mbs: u32, fps: f64) -> u8 {
    // (level_idc, MaxMBPS, MaxFS)
    const LEVELS: [(u8, u64, u64); 19] = [
        (10, 1_485, 99),
        (11, 3_000, 396),
        (12, 6_000, 396),
        (13, 11_880, 396),
        (20, 11_880, 396),
        (21, 19_800, 792),
        (22, 20_250, 1_620),
        (30, 40_500, 1_620),
        (31, 108_000, 3_600),
        (32, 216_000, 5_120),
        (40, 245_760, 8_192),
        (41, 245_760, 8_192),
        (42, 522_240, 8_704),
        (50, 589_824, 22_080),
        (51, 983_040, 36_864),
        (52, 2_073_600, 36_864),
        (60, 4_177_920, 139_264),
        (61, 8_355_840, 139_264),
        (62, 16_711_680, 139_264),
    ];
    let fs = u64::from(width_in_mbs) * u64::from(height_in_mbs);
    let mbps = (fs as f64 * fps).ceil() as u64;
    // A-3.1 (f): neither side may exceed sqrt(8 * MaxFS) macroblocks.
    let side = u64::from(width_in_mbs.max(height_in_mbs));
    LEVELS
        .iter()
        .find(|&&(_, max_mbps, max_fs)| {
            fs <= max_fs && mbps <= max_mbps && side * side <= 8 * max_fs
        })
        .map_or(62, |l| l.0)
}

/// The SPS this project's VA-API encoder sends: `profile`, picture `width` x `height` (cropped
/// from whole macroblocks), frame_num modulo 256, POC type 2 (no B-frames), one reference
/// frame, VUI with BT.709 limited range and a bitstream restriction that lets decoders output
/// each picture at once (`max_num_reorder_frames = 0`).
pub fn stream_sps(profile: Profile, width: u32, height: u32, fps: f64) -> Sps {
    let (wmb, hmb) = (width.div_ceil(16), height.div_ceil(16));
    let (crop_r, crop_b) = ((wmb * 16 - width) / 2, (hmb * 16 - height) / 2);
    Sps {
        profile_idc: profile.profile_idc(),
        constraint_flags: profile.constraint_flags(),
        level_idc: level_for(wmb, hmb, fps),
        sps_id: 0,
        chroma_format_idc: 1,
        bit_depth_luma_minus8: 0,
        bit_depth_chroma_minus8: 0,
        qpprime_y_zero_transform_bypass: false,
        log2_max_frame_num_minus4: 4,
        pic_order_cnt_type: 2,
        log2_max_pic_order_cnt_lsb_minus4: 0,
        max_num_ref_frames: 1,
        gaps_in_frame_num_allowed: false,
        width_in_mbs: wmb,
        height_in_mbs: hmb,
        direct_8x8_inference: true,
        crop: (crop_r != 0 || crop_b != 0).then_some((0, crop_r, 0, crop_b)),
        vui: Some(Vui {
            video_signal: Some(VideoSignal {
                video_format: 5,
                full_range: false,
                colour: Some((1, 1, 1)),
            }),
            bitstream_restriction: Some(BitstreamRestriction {
                motion_vectors_over_pic_boundaries: true,
                max_bytes_per_pic_denom: 0,
                max_bits_per_mb_denom: 0,
                log2_max_mv_length_horizontal: 15,
                log2_max_mv_length_vertical: 15,
                max_num_reorder_frames: 0,
                max_dec_frame_buffering: 1,
            }),
            ..Vui::default()
        }),
    }
}

/// The PPS that goes with [`stream_sps`]: entropy coding by profile, `pic_init_qp` = `qp`
/// (the P-picture QP; I pictures use `slice_qp_delta`), deblocking control present.
pub fn stream_pps(profile: Profile, qp: u8) -> Pps {
    Pps {
        pps_id: 0,
        sps_id: 0,
        entropy_coding_mode: profile.cabac(),
        bottom_field_pic_order_in_frame_present: false,
        num_ref_idx_l0_default_active_minus1: 0,
        num_ref_idx_l1_default_active_minus1: 0,
        weighted_pred: false,
        weighted_bipred_idc: 0,
        pic_init_qp_minus26: i32::from(qp) - 26,
        pic_init_qs_minus26: 0,
        chroma_qp_index_offset: 0,
        deblocking_filter_control_present: true,
        constrained_intra_pred: false,
        redundant_pic_cnt_present: false,
        high: None,
    }
}

/// The single slice header of picture `frame_num` (modulo 256) of [`stream_sps`] /
/// [`stream_pps`]: IDR pictures are I slices with `idr_pic_id`, others P slices with one
/// reference; every picture is a reference (`nal_ref_idc` 3 for IDR, 2 otherwise, as x264).
pub fn stream_slice(
    idr: bool,
    frame_num: u32,
    idr_pic_id: u32,
    slice_qp_delta: i32,
) -> SliceHeader {
    SliceHeader {
        nal_ref_idc: if idr { 3 } else { 2 },
        idr,
        first_mb_in_slice: 0,
        slice_type: if idr { SLICE_I + 5 } else { SLICE_P + 5 },
        pps_id: 0,
        frame_num: frame_num % 256,
        idr_pic_id,
        pic_order_cnt_lsb: 0,
        num_ref_idx_active_override: None,
        no_output_of_prior_pics: false,
        long_term_reference: false,
        cabac_init_idc: 0,
        slice_qp_delta,
        disable_deblocking_filter_idc: 0,
        slice_alpha_c0_offset_div2: 0,
        slice_beta_offset_div2: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a string of '0'/'1' (spaces ignored) into bytes, zero-padded.
    fn bits(s: &str) -> Vec<u8> {
        let b: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        b.chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &x)| acc | (u8::from(x == b'1') << (7 - i)))
            })
            .collect()
    }

    #[test]
    fn exp_golomb_codes() {
        // Table 9-2: codeNum 0 → 1, 1 → 010, 2 → 011, 3 → 00100, 7 → 0001000.
        let mut w = BitWriter::new();
        for v in [0, 1, 2, 3, 7] {
            w.ue(v);
        }
        assert_eq!(w.bit_len(), 1 + 3 + 3 + 5 + 7);
        assert_eq!(w.bytes(), bits("1 010 011 00100 0001000").as_slice());
        // Table 9-3: se 1 → codeNum 1, -1 → 2, 2 → 3, -3 → 6, 0 → 0.
        let mut w = BitWriter::new();
        for v in [1, -1, 2, -3, 0] {
            w.se(v);
        }
        assert_eq!(w.bytes(), bits("010 011 00100 00111 1").as_slice());
        let mut w = BitWriter::new();
        w.ue(u32::MAX - 1);
        assert_eq!(w.bit_len(), 63);
        let mut w = BitWriter::new();
        w.u(32, 0xdead_beef);
        w.u(3, 5);
        w.trailing_bits();
        assert_eq!(w.bytes(), &[0xde, 0xad, 0xbe, 0xef, 0b1011_0000]);
    }

    #[test]
    fn emulation_prevention_round_trips() {
        let rbsp = [0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0];
        let ebsp = emulation_prevention(&rbsp);
        assert_eq!(
            ebsp,
            [0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 0, 0]
        );
        assert_eq!(strip_emulation_prevention(&ebsp), rbsp);
        assert!(!ebsp.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
    }

    fn cb_1080p() -> (Sps, Pps) {
        (
            stream_sps(Profile::ConstrainedBaseline, 1920, 1080, 30.0),
            stream_pps(Profile::ConstrainedBaseline, 23),
        )
    }

    #[test]
    fn levels() {
        assert_eq!(level_for(120, 68, 30.0), 40); // 8160 MBs, 244800 MB/s
        assert_eq!(level_for(120, 68, 60.0), 42); // 489600 MB/s
        assert_eq!(level_for(80, 45, 30.0), 31); // 1280x720
        assert_eq!(level_for(240, 135, 30.0), 51); // 3840x2160
        assert_eq!(level_for(20, 15, 30.0), 13); // 320x240: 9000 MB/s (x264 says 1.3 too)
                                                 // 4096x64: 1024 MBs at 30 fps fit level 3.1's size and rate, but a side of 256 MBs
                                                 // needs 256^2 <= 8 * MaxFS, i.e. MaxFS >= 8192: level 4.0.
        assert_eq!(level_for(256, 4, 30.0), 40);
    }

    /// 1920x1080 Constrained Baseline level 4.0, derived by hand from 7.3.2.1.1 / E.1.1:
    /// profile_idc 66 = 01000010, constraint_set0/1 = 11000000, level_idc 40 = 00101000,
    /// sps_id ue(0) = 1, log2_max_frame_num_minus4 ue(4) = 00101, pic_order_cnt_type ue(2) =
    /// 011, max_num_ref_frames ue(1) = 010, gaps 0, pic_width_in_mbs_minus1 ue(119) =
    /// 000000 1111000, pic_height_in_map_units_minus1 ue(67) = 000000 1000100,
    /// frame_mbs_only 1, direct_8x8 1, cropping 1 with ue(0) ue(0) ue(0) ue(4) (1088 → 1080:
    /// 8 rows = 4 crop units) = 1 1 1 00101, vui 1: aspect 0, overscan 0, video_signal 1,
    /// video_format 101, full_range 0, colour_description 1, 00000001 x 3, chroma_loc 0,
    /// timing 0, nal_hrd 0, vcl_hrd 0, pic_struct 0, bitstream_restriction 1: mv over
    /// boundaries 1, ue(0) ue(0), ue(15) = 000010000 twice, reorder ue(0) = 1, max_dec_frame_buffering
    /// ue(1) = 010; then rbsp_stop_one_bit 1 and zero alignment.
    #[test]
    fn sps_1080p_constrained_baseline_level_40_by_hand() {
        let (sps, _) = cb_1080p();
        let expected = bits(
            "01000010 11000000 00101000
             1 00101 011 010 0 0000001111000 0000001000100 1 1 1 1 1 1 00101
             1 0 0 1 101 0 1 00000001 00000001 00000001 0 0 0 0 0 1 1 1 1 000010000 000010000 1 010
             1",
        );
        assert_eq!(sps.rbsp(), expected);
        assert_eq!(
            sps.rbsp(),
            [
                0x42, 0xc0, 0x28, 0x95, 0xa0, 0x1e, 0x00, 0x89, 0xf9, 0x66, 0xa0, 0x20, 0x20, 0x20,
                0xf0, 0x80, 0x42, 0xa0,
            ]
        );
        // No 00 00 0x run in there: the NAL is start code + 0x67 + the RBSP.
        let nal = sps.nal();
        assert_eq!(&nal[..5], &[0, 0, 0, 1, 0x67]);
        assert_eq!(&nal[5..], expected.as_slice());
    }

    /// PPS: pps_id 1, sps_id 1, CAVLC 0, bottom_field 0, slice groups ue(0) 1, l0/l1 defaults
    /// ue(0) 1 1, weighted 0, bipred 00, pic_init_qp_minus26 se(23 - 26 = -3) = 00111,
    /// qs se(0) 1, chroma offset se(0) 1, deblocking control 1, constrained intra 0,
    /// redundant 0, stop bit 1 + alignment.
    #[test]
    fn pps_by_hand() {
        let (_, pps) = cb_1080p();
        let expected = bits("1 1 0 0 1 1 1 0 00 00111 1 1 1 0 0 1");
        assert_eq!(pps.rbsp(), expected);
        assert_eq!(pps.rbsp(), [0xce, 0x0f, 0xc8]);
        assert_eq!(pps.nal(), [0, 0, 0, 1, 0x68, 0xce, 0x0f, 0xc8]);
    }

    /// IDR slice: NAL header 0x65, first_mb ue(0) 1, slice_type ue(7) 0001000, pps_id 1,
    /// frame_num u(8) 0, idr_pic_id ue(0) 1, (POC type 2: nothing), no_output_of_prior_pics 0,
    /// long_term_reference 0, (CAVLC: no cabac_init_idc) slice_qp_delta se(-3) 00111,
    /// disable_deblocking_filter_idc ue(0) 1, alpha se(0) 1, beta se(0) 1 = 40 + 28 bits.
    /// P slice: NAL header 0x41 (nal_ref_idc 2), first_mb 1, slice_type ue(5) 00110, pps 1,
    /// frame_num 00000001, override 0, list modification 0, adaptive marking 0, qp se(0) 1,
    /// deblocking 1 1 1.
    #[test]
    fn slice_headers_by_hand() {
        let (sps, pps) = cb_1080p();
        let idr = stream_slice(true, 0, 0, -3).write(&sps, &pps);
        assert_eq!(idr.bit_len(), 8 + 28);
        assert_eq!(
            idr.bytes(),
            bits("01100101 1 0001000 1 00000000 1 0 0 00111 1 1 1").as_slice()
        );
        let (packed, n) = stream_slice(true, 0, 0, -3).packed(&sps, &pps);
        assert_eq!(n, 32 + 36);
        assert_eq!(&packed[..5], &[0, 0, 0, 1, 0x65]);
        let p = stream_slice(false, 257, 0, 0).write(&sps, &pps);
        assert_eq!(
            p.bytes(),
            bits("01000001 1 00110 1 00000001 0 0 0 1 1 1 1").as_slice()
        );
        // CABAC P slices carry cabac_init_idc.
        let main_pps = stream_pps(Profile::Main, 23);
        let p = stream_slice(false, 1, 0, 0).write(&sps, &main_pps);
        assert_eq!(
            p.bytes(),
            bits("01000001 1 00110 1 00000001 0 0 0 1 1 1 1 1").as_slice()
        );
    }

    #[test]
    fn high_profile_sps_and_pps_tails() {
        let sps = stream_sps(Profile::High, 64, 64, 30.0);
        let rbsp = sps.rbsp();
        assert_eq!(&rbsp[..3], &[100, 0x00, 10]);
        // sps_id 1, chroma_format_idc ue(1) 010, luma ue(0) 1, chroma ue(0) 1, bypass 0,
        // scaling 0, then log2_max_frame_num_minus4 ue(4) 00101, pic_order_cnt_type ue(2) 011.
        assert_eq!(rbsp[3], 0b1010_1100);
        assert_eq!(rbsp[4], 0b0010_1011);
        // No cropping for whole macroblocks.
        assert!(sps.crop.is_none());
        let pps = Pps {
            high: Some(PpsHigh {
                transform_8x8_mode: true,
                second_chroma_qp_index_offset: -1,
            }),
            ..stream_pps(Profile::High, 26)
        };
        // ... redundant 0, transform_8x8 1, scaling 0, se(-1) 011, stop 1.
        let r = pps.rbsp();
        let mut w = BitWriter::new();
        for b in [true, true, true, false, true, true, true, false] {
            w.bit(b);
        }
        w.u(2, 0);
        w.se(0);
        w.se(0);
        w.se(0);
        for b in [true, false, false, true, false] {
            w.bit(b);
        }
        w.se(-1);
        w.trailing_bits();
        assert_eq!(r, w.into_bytes());
    }

    // ---- Cross-check against x264 through FFmpeg's trace_headers ---------------------------

    use crate::encode::h264::x264::{X264Config, X264Encoder};
    use crate::encode::{BgrxImage, EncodeRequest, Encoder, StreamParams};
    use std::process::Command;

    /// (syntax element, value) in bitstream order, per parsed header.
    type Fields = Vec<(String, i64)>;

    #[track_caller]
    fn tool_missing(tool: &str, e: std::io::Error) -> ! {
        crate::encode::tool_missing(
            tool,
            e,
            "the H.264 header tests need FFmpeg on PATH (apt install ffmpeg)",
        )
    }

    /// Runs `ffmpeg -bsf:v trace_headers` over an Annex-B stream; returns (section name,
    /// fields) for every SPS, PPS and slice header.
    fn trace_headers(stream: &[u8]) -> Vec<(String, Fields)> {
        let dir = std::env::temp_dir().join(format!("stripecast-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "s{}.h264",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::write(&path, stream).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-f", "h264", "-i"])
            .arg(&path)
            .args(["-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"])
            .output();
        let _ = std::fs::remove_file(&path);
        let out = out.unwrap_or_else(|e| tool_missing("ffmpeg", e));
        let text = String::from_utf8_lossy(&out.stderr);
        // An FFmpeg without the bitstream filter fails here rather than tracing nothing.
        assert!(out.status.success(), "ffmpeg trace_headers failed:\n{text}");
        let mut sections: Vec<(String, Fields)> = Vec::new();
        // The parameter sets are traced twice: once as "Extradata" (taken from the first
        // packet), then in the packets themselves. Only the packets count.
        let mut in_extradata = false;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("[trace_headers @ ") else {
                continue;
            };
            let Some((_, body)) = rest.split_once("] ") else {
                continue;
            };
            let body = body.trim();
            if body == "Extradata" {
                in_extradata = true;
                continue;
            }
            if body.starts_with("Packet") {
                in_extradata = false;
                continue;
            }
            if in_extradata {
                continue;
            }
            if matches!(
                body,
                "Sequence Parameter Set" | "Picture Parameter Set" | "Slice Header"
            ) {
                sections.push((body.to_string(), Vec::new()));
                continue;
            }
            // "<bit position> <name> <bits> = <value>"
            let mut parts = body.split_whitespace();
            let (Some(pos), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            if pos.parse::<u64>().is_err() {
                // Another section (SEI, ...): collect it under its own name.
                sections.push((body.to_string(), Vec::new()));
                continue;
            }
            let Some(value) = body.rsplit("= ").next().and_then(|v| v.trim().parse().ok()) else {
                continue;
            };
            if let Some((_, fields)) = sections.last_mut() {
                fields.push((name.to_string(), value));
            }
        }
        sections
    }

    fn get(fields: &Fields, name: &str) -> Option<i64> {
        fields.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    fn req(fields: &Fields, name: &str) -> i64 {
        get(fields, name).unwrap_or_else(|| panic!("{name} missing from {fields:?}"))
    }

    fn flag(fields: &Fields, name: &str) -> bool {
        get(fields, name).unwrap_or(0) != 0
    }

    fn sps_from(f: &Fields) -> Sps {
        let constraint = (0..6).fold(0u8, |acc, i| {
            acc | (u8::from(flag(f, &format!("constraint_set{i}_flag"))) << (7 - i))
        });
        let vui = flag(f, "vui_parameters_present_flag").then(|| Vui {
            aspect_ratio: flag(f, "aspect_ratio_info_present_flag").then(|| AspectRatio {
                idc: req(f, "aspect_ratio_idc") as u8,
                sar: (
                    get(f, "sar_width").unwrap_or(0) as u16,
                    get(f, "sar_height").unwrap_or(0) as u16,
                ),
            }),
            overscan_appropriate: flag(f, "overscan_info_present_flag")
                .then(|| flag(f, "overscan_appropriate_flag")),
            video_signal: flag(f, "video_signal_type_present_flag").then(|| VideoSignal {
                video_format: req(f, "video_format") as u8,
                full_range: flag(f, "video_full_range_flag"),
                colour: flag(f, "colour_description_present_flag").then(|| {
                    (
                        req(f, "colour_primaries") as u8,
                        req(f, "transfer_characteristics") as u8,
                        req(f, "matrix_coefficients") as u8,
                    )
                }),
            }),
            chroma_loc: flag(f, "chroma_loc_info_present_flag").then(|| {
                (
                    req(f, "chroma_sample_loc_type_top_field") as u32,
                    req(f, "chroma_sample_loc_type_bottom_field") as u32,
                )
            }),
            timing: flag(f, "timing_info_present_flag").then(|| Timing {
                num_units_in_tick: req(f, "num_units_in_tick") as u32,
                time_scale: req(f, "time_scale") as u32,
                fixed_frame_rate: flag(f, "fixed_frame_rate_flag"),
            }),
            pic_struct_present: flag(f, "pic_struct_present_flag"),
            bitstream_restriction: flag(f, "bitstream_restriction_flag").then(|| {
                BitstreamRestriction {
                    motion_vectors_over_pic_boundaries: flag(
                        f,
                        "motion_vectors_over_pic_boundaries_flag",
                    ),
                    max_bytes_per_pic_denom: req(f, "max_bytes_per_pic_denom") as u32,
                    max_bits_per_mb_denom: req(f, "max_bits_per_mb_denom") as u32,
                    log2_max_mv_length_horizontal: req(f, "log2_max_mv_length_horizontal") as u32,
                    log2_max_mv_length_vertical: req(f, "log2_max_mv_length_vertical") as u32,
                    max_num_reorder_frames: req(f, "max_num_reorder_frames") as u32,
                    max_dec_frame_buffering: req(f, "max_dec_frame_buffering") as u32,
                }
            }),
        });
        assert!(!flag(f, "nal_hrd_parameters_present_flag"));
        Sps {
            profile_idc: req(f, "profile_idc") as u8,
            constraint_flags: constraint,
            level_idc: req(f, "level_idc") as u8,
            sps_id: req(f, "seq_parameter_set_id") as u32,
            chroma_format_idc: get(f, "chroma_format_idc").unwrap_or(1) as u32,
            bit_depth_luma_minus8: get(f, "bit_depth_luma_minus8").unwrap_or(0) as u32,
            bit_depth_chroma_minus8: get(f, "bit_depth_chroma_minus8").unwrap_or(0) as u32,
            qpprime_y_zero_transform_bypass: flag(f, "qpprime_y_zero_transform_bypass_flag"),
            log2_max_frame_num_minus4: req(f, "log2_max_frame_num_minus4") as u32,
            pic_order_cnt_type: req(f, "pic_order_cnt_type") as u32,
            log2_max_pic_order_cnt_lsb_minus4: get(f, "log2_max_pic_order_cnt_lsb_minus4")
                .unwrap_or(0) as u32,
            max_num_ref_frames: req(f, "max_num_ref_frames") as u32,
            gaps_in_frame_num_allowed: flag(f, "gaps_in_frame_num_allowed_flag"),
            width_in_mbs: req(f, "pic_width_in_mbs_minus1") as u32 + 1,
            height_in_mbs: req(f, "pic_height_in_map_units_minus1") as u32 + 1,
            direct_8x8_inference: flag(f, "direct_8x8_inference_flag"),
            crop: flag(f, "frame_cropping_flag").then(|| {
                (
                    req(f, "frame_crop_left_offset") as u32,
                    req(f, "frame_crop_right_offset") as u32,
                    req(f, "frame_crop_top_offset") as u32,
                    req(f, "frame_crop_bottom_offset") as u32,
                )
            }),
            vui,
        }
    }

    fn pps_from(f: &Fields) -> Pps {
        Pps {
            pps_id: req(f, "pic_parameter_set_id") as u32,
            sps_id: req(f, "seq_parameter_set_id") as u32,
            entropy_coding_mode: flag(f, "entropy_coding_mode_flag"),
            bottom_field_pic_order_in_frame_present: flag(
                f,
                "bottom_field_pic_order_in_frame_present_flag",
            ),
            num_ref_idx_l0_default_active_minus1: req(f, "num_ref_idx_l0_default_active_minus1")
                as u32,
            num_ref_idx_l1_default_active_minus1: req(f, "num_ref_idx_l1_default_active_minus1")
                as u32,
            weighted_pred: flag(f, "weighted_pred_flag"),
            weighted_bipred_idc: req(f, "weighted_bipred_idc") as u32,
            pic_init_qp_minus26: req(f, "pic_init_qp_minus26") as i32,
            pic_init_qs_minus26: req(f, "pic_init_qs_minus26") as i32,
            chroma_qp_index_offset: req(f, "chroma_qp_index_offset") as i32,
            deblocking_filter_control_present: flag(f, "deblocking_filter_control_present_flag"),
            constrained_intra_pred: flag(f, "constrained_intra_pred_flag"),
            redundant_pic_cnt_present: flag(f, "redundant_pic_cnt_present_flag"),
            high: get(f, "transform_8x8_mode_flag").map(|t| PpsHigh {
                transform_8x8_mode: t != 0,
                second_chroma_qp_index_offset: req(f, "second_chroma_qp_index_offset") as i32,
            }),
        }
    }

    fn slice_from(f: &Fields) -> SliceHeader {
        SliceHeader {
            nal_ref_idc: req(f, "nal_ref_idc") as u8,
            idr: req(f, "nal_unit_type") == 5,
            first_mb_in_slice: req(f, "first_mb_in_slice") as u32,
            slice_type: req(f, "slice_type") as u32,
            pps_id: req(f, "pic_parameter_set_id") as u32,
            frame_num: req(f, "frame_num") as u32,
            idr_pic_id: get(f, "idr_pic_id").unwrap_or(0) as u32,
            pic_order_cnt_lsb: get(f, "pic_order_cnt_lsb").unwrap_or(0) as u32,
            num_ref_idx_active_override: flag(f, "num_ref_idx_active_override_flag")
                .then(|| req(f, "num_ref_idx_l0_active_minus1") as u32),
            no_output_of_prior_pics: flag(f, "no_output_of_prior_pics_flag"),
            long_term_reference: flag(f, "long_term_reference_flag"),
            cabac_init_idc: get(f, "cabac_init_idc").unwrap_or(0) as u32,
            slice_qp_delta: req(f, "slice_qp_delta") as i32,
            disable_deblocking_filter_idc: get(f, "disable_deblocking_filter_idc").unwrap_or(0)
                as u32,
            slice_alpha_c0_offset_div2: get(f, "slice_alpha_c0_offset_div2").unwrap_or(0) as i32,
            slice_beta_offset_div2: get(f, "slice_beta_offset_div2").unwrap_or(0) as i32,
        }
    }

    /// NAL units of an Annex-B stream: (nal_unit_type, bytes after the start code).
    fn nals(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i + 3 <= stream.len() {
            if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
                starts.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
                while end > s && stream[end - 1] == 0 {
                    end -= 1; // trailing zero of a 4-byte start code
                }
                (stream[s] & 0x1f, stream[s..end].to_vec())
            })
            .collect()
    }

    fn desktop(w: u32, h: u32, t: u32) -> Vec<u8> {
        let mut px = vec![0u8; (w * h * 4) as usize];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let v = ((x / 7 + y / 5 + t) % 13 * 19) as u8;
            p.copy_from_slice(&[v, (x ^ y) as u8, (y + t * 3) as u8, 0]);
        }
        px
    }

    fn x264_stream(w: u32, h: u32, fullcolor: bool) -> Vec<u8> {
        let mut enc = X264Encoder::new(X264Config {
            params: StreamParams {
                width: w,
                height: h,
                crf: 23,
                paint_over_crf: 18,
                rate_control: Default::default(),
                fullcolor,
                fps: 30.0,
                keyframe_interval_frames: 0,
            },
            threads: 0,
        })
        .unwrap();
        let mut out = Vec::new();
        for t in 0..3 {
            let px = desktop(w, h, t);
            enc.encode(
                BgrxImage::packed(&px, w, h),
                EncodeRequest {
                    force_key: t == 0,
                    paint_over: false,
                    ..Default::default()
                },
                &mut out,
            )
            .unwrap();
        }
        out
    }

    /// Rebuilds every SPS, PPS and slice header of a real x264 stream from FFmpeg's parse and
    /// compares bytes (parameter sets) and bits (slice headers) with what x264 wrote.
    fn cross_check(w: u32, h: u32, fullcolor: bool) {
        let stream = x264_stream(w, h, fullcolor);
        let sections = trace_headers(&stream);
        let units: Vec<_> = nals(&stream)
            .into_iter()
            .filter(|(t, _)| matches!(t, 1 | 5 | 7 | 8))
            .collect();
        let parsed: Vec<_> = sections
            .iter()
            .filter(|(name, _)| {
                matches!(
                    name.as_str(),
                    "Sequence Parameter Set" | "Picture Parameter Set" | "Slice Header"
                )
            })
            .collect();
        assert_eq!(
            parsed.len(),
            units.len(),
            "{:?} vs NAL types {:?}",
            parsed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            units.iter().map(|(t, _)| t).collect::<Vec<_>>()
        );
        let (mut sps, mut pps) = (None, None);
        let mut slices = 0;
        for ((name, fields), (ty, nal)) in parsed.iter().zip(&units) {
            match (name.as_str(), ty) {
                ("Sequence Parameter Set", 7) => {
                    let s = sps_from(fields);
                    assert_eq!(s.nal()[4..], nal[..], "SPS {s:?}");
                    sps = Some(s);
                }
                ("Picture Parameter Set", 8) => {
                    let p = pps_from(fields);
                    assert_eq!(p.nal()[4..], nal[..], "PPS {p:?}");
                    pps = Some(p);
                }
                ("Slice Header", 1 | 5) => {
                    let header = slice_from(fields);
                    let ours = header.write(sps.as_ref().unwrap(), pps.as_ref().unwrap());
                    let theirs = strip_emulation_prevention(nal);
                    let n = ours.bit_len();
                    let full = n / 8;
                    assert_eq!(ours.bytes()[..full], theirs[..full], "slice {header:?}");
                    let rem = n % 8;
                    if rem > 0 {
                        let mask = 0xffu8 << (8 - rem);
                        assert_eq!(
                            ours.bytes()[full] & mask,
                            theirs[full] & mask,
                            "slice {header:?}"
                        );
                    }
                    slices += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(slices >= 3, "{slices} slices");
    }

    #[test]
    fn matches_x264_parameter_sets_and_slice_headers_bit_for_bit() {
        cross_check(1920, 1080, false);
        cross_check(320, 200, true); // High 4:4:4: chroma_format_idc 3, 8x8 transform
    }

    /// Our own stream headers (SPS, PPS, IDR slice header followed by a few data bytes),
    /// parsed back by FFmpeg's independent H.264 parser, and ffprobe's description of them.
    #[test]
    fn ffmpeg_reads_our_headers_back() {
        let (sps, pps) = cb_1080p();
        let mut stream = sps.nal();
        stream.extend(pps.nal());
        let (slice, _) = stream_slice(true, 0, 0, -3).packed(&sps, &pps);
        stream.extend(slice);
        stream.extend([0x88, 0x84, 0x21, 0x80]); // some slice data bits
        let sections = trace_headers(&stream);
        let find = |n: &str| {
            sections
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, f)| f.clone())
                .unwrap_or_else(|| panic!("no {n} in {sections:?}"))
        };
        let s = find("Sequence Parameter Set");
        assert_eq!(sps_from(&s), sps);
        assert_eq!(req(&s, "pic_width_in_mbs_minus1"), 119);
        assert_eq!(req(&s, "frame_crop_bottom_offset"), 4);
        assert_eq!(req(&s, "max_num_reorder_frames"), 0);
        assert_eq!(pps_from(&find("Picture Parameter Set")), pps);
        assert_eq!(
            slice_from(&find("Slice Header")),
            stream_slice(true, 0, 0, -3)
        );

        // ffprobe's view of the same stream: the SPS decides what it reports.
        let mixed = stream;
        let dir = std::env::temp_dir().join(format!("stripecast-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mixed.h264");
        std::fs::write(&path, &mixed).unwrap();
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-f", "h264", "-show_streams"])
            .arg(&path)
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        let out = out.unwrap_or_else(|e| tool_missing("ffprobe", e));
        let text = String::from_utf8_lossy(&out.stdout);
        for want in [
            "width=1920",
            "height=1080",
            "profile=Constrained Baseline",
            "level=40",
            "color_space=bt709",
            "color_range=tv",
        ] {
            assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
        }
    }
}
