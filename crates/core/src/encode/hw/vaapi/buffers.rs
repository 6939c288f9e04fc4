//! Data in and out: the input surface upload, parameter and packed-header buffers, coded output.

use std::ffi::{c_int, c_void};
use std::ptr;

use super::session::VaapiEncoder;
use super::sys::*;
use super::VaapiError;
use crate::encode::colour::write_nv12;

impl VaapiEncoder {
    /// Writes the converted planes into the input surface.
    pub(super) fn upload(&mut self) -> Result<(), VaapiError> {
        let va = &self.va;
        let dpy = self.display.dpy;
        let src = self.surfaces[0];
        if self.derive {
            let mut img = Image::default();
            // SAFETY: valid display and surface.
            let st = unsafe { (va.derive_image)(dpy, src, &mut img) };
            if st == VA_STATUS_SUCCESS && img.format.fourcc == VA_FOURCC_NV12 {
                let r = self.write_image(&img);
                // SAFETY: the derived image is destroyed once.
                unsafe { (va.destroy_image)(dpy, img.image_id) };
                return r;
            }
            if st == VA_STATUS_SUCCESS {
                // SAFETY: as above.
                unsafe { (va.destroy_image)(dpy, img.image_id) };
            }
            self.derive = false;
        }
        if self.put_image.is_none() {
            let mut format = ImageFormat {
                fourcc: VA_FOURCC_NV12,
                byte_order: 1, // VA_LSB_FIRST
                bits_per_pixel: 12,
                ..ImageFormat::default()
            };
            let mut img = Image::default();
            // SAFETY: valid display and out-pointer.
            va.check("vaCreateImage", unsafe {
                (va.create_image)(
                    dpy,
                    &mut format,
                    self.cfg.params.width as c_int,
                    self.cfg.params.height as c_int,
                    &mut img,
                )
            })?;
            self.put_image = Some(img);
        }
        let img = self.put_image.expect("created above");
        self.write_image(&img)?;
        let (w, h) = (self.cfg.params.width, self.cfg.params.height);
        // SAFETY: valid surface and image of the surface's size.
        va.check("vaPutImage", unsafe {
            (va.put_image)(dpy, src, img.image_id, 0, 0, w, h, 0, 0, w, h)
        })
    }

    fn write_image(&self, img: &Image) -> Result<(), VaapiError> {
        let va = &self.va;
        let dpy = self.display.dpy;
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: the image's buffer is mapped once and unmapped below.
        va.check("vaMapBuffer", unsafe {
            (va.map_buffer)(dpy, img.buf, &mut data)
        })?;
        let (w, h) = (
            self.cfg.params.width as usize,
            self.cfg.params.height as usize,
        );
        let (yp, cp) = (img.pitches[0] as usize, img.pitches[1] as usize);
        let (yo, co) = (img.offsets[0] as usize, img.offsets[1] as usize);
        let need = (yo + yp * h).max(co + cp * h / 2);
        let r = if data.is_null() || yp < w || cp < w || (img.data_size as usize) < need {
            Err(VaapiError::new(
                "vaMapBuffer",
                format!(
                    "unexpected NV12 image (pitches {yp}/{cp}, {} bytes)",
                    img.data_size
                ),
            ))
        } else {
            // SAFETY: the mapped buffer holds `data_size` bytes until unmapped.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(data.cast::<u8>(), img.data_size as usize)
            };
            write_nv12(&self.planes, buf, (yo, yp), (co, cp));
            Ok(())
        };
        // SAFETY: mapped above.
        let st = unsafe { (va.unmap_buffer)(dpy, img.buf) };
        r?;
        va.check("vaUnmapBuffer", st)
    }

    pub(super) fn create_buffer<T>(&self, kind: c_int, data: &T) -> Result<VaBufferId, VaapiError> {
        self.create_raw_buffer(kind, (data as *const T).cast(), std::mem::size_of::<T>())
    }

    fn create_raw_buffer(
        &self,
        kind: c_int,
        data: *const c_void,
        size: usize,
    ) -> Result<VaBufferId, VaapiError> {
        let mut id = VA_INVALID_ID;
        // SAFETY: libva copies `size` bytes from `data` into a new buffer.
        self.va.check("vaCreateBuffer", unsafe {
            (self.va.create_buffer)(
                self.display.dpy,
                self.context,
                kind,
                size as u32,
                1,
                data.cast_mut(),
                &mut id,
            )
        })?;
        Ok(id)
    }

    pub(super) fn packed_header(
        &self,
        header_type: u32,
        bytes: &[u8],
        bits: usize,
        emulation: bool,
        out: &mut Vec<VaBufferId>,
    ) -> Result<(), VaapiError> {
        let param = EncPackedHeaderParameterBuffer {
            header_type,
            bit_length: bits as u32,
            has_emulation_bytes: u8::from(emulation),
            ..Default::default()
        };
        out.push(self.create_buffer(VA_ENC_PACKED_HEADER_PARAMETER_BUFFER_TYPE, &param)?);
        out.push(self.create_raw_buffer(
            VA_ENC_PACKED_HEADER_DATA_BUFFER_TYPE,
            bytes.as_ptr().cast(),
            bytes.len(),
        )?);
        Ok(())
    }

    /// Appends the coded buffer's segments to `out`.
    pub(super) fn read_coded(&self, out: &mut Vec<u8>) -> Result<(), VaapiError> {
        let (va, dpy) = (&self.va, self.display.dpy);
        let mut seg: *mut c_void = ptr::null_mut();
        // SAFETY: the coded buffer is mapped once and unmapped below.
        va.check("vaMapBuffer", unsafe {
            (va.map_buffer)(dpy, self.coded, &mut seg)
        })?;
        let mut count = 0;
        while !seg.is_null() && count < 1024 {
            // SAFETY: a mapped coded buffer is a linked list of VACodedBufferSegment, each
            // pointing at `size` bytes, valid until unmapped.
            let s = unsafe { &*seg.cast::<CodedBufferSegment>() };
            if !s.buf.is_null() && s.size > 0 {
                out.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(s.buf.cast::<u8>(), s.size as usize)
                });
            }
            seg = s.next;
            count += 1;
        }
        // SAFETY: mapped above.
        va.check("vaUnmapBuffer", unsafe {
            (va.unmap_buffer)(dpy, self.coded)
        })
    }
}
