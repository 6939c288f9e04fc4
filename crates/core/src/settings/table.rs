//! Every capture setting, once: [`settings_table!`] hands its rows to a macro that makes what it
//! needs of them. Here (`define_settings!`): the all-optional [`CaptureOptions`] a user passes
//! and their merging, the grouped, checked [`Config`] and the validation between them, and the
//! [`SETTINGS`] descriptors (for the binding's type checks and did-you-mean, the README's
//! settings table, the TypeScript typings and the fuzzer).
//!
//! A row is: its doc (without its default, which the descriptions add, unless it is worked
//! out from something else: then the doc says how), its
//! option name, its JavaScript name, its TypeScript type, `=>`, its field in its group, its
//! kind (what it accepts, see `kind.rs`) and its default.

/// Calls `$callback!` with every setting, grouped as [`Config`](crate::settings::Config) holds them.
#[macro_export]
macro_rules! settings_table {
    ($callback:path) => {
        $callback! {
            region RegionRequest "Which screen, and the region of it captured." {
                "Display to capture: an X display (`':0'`), or a wlroots Wayland compositor's socket
                (`'wayland-1'` in `$XDG_RUNTIME_DIR`, or a path), captured through wlr-screencopy.
                Default: `$DISPLAY`, else `$WAYLAND_DISPLAY`."
                display "display" "string" =>
                    display: $crate::settings::Opt<$crate::settings::Display> = None;
                "Capture this monitor (RandR): its index in `ScreenCapture.monitors()` or its name
                (e.g. `'DP-1'`). The region settings are then relative to the monitor, and the
                capture follows it when it moves or changes size (`autoResize`). Default: the
                whole screen."
                monitor "monitor" "number | string" =>
                    monitor: $crate::settings::Opt<$crate::settings::Monitor> = None;
                "Left edge of the region, on screen (on the monitor with `monitor`)."
                capture_x "captureX" "number" =>
                    x: $crate::settings::Int<u32, 0, 16383> = 0;
                "Top edge of the region, on screen (on the monitor with `monitor`)."
                capture_y "captureY" "number" =>
                    y: $crate::settings::Int<u32, 0, 16383> = 0;
                "Width of the region in pixels. Default: to the right edge of the screen. A region
                running past the screen edge is clamped (said in `CaptureInfo.notes`); H.264
                rounds odd sizes down to even."
                capture_width "captureWidth" "number" =>
                    width: $crate::settings::Opt<$crate::settings::Int<u32, 1, 16384>> = None;
                "Height of the region in pixels. Default: to the bottom of the screen."
                capture_height "captureHeight" "number" =>
                    height: $crate::settings::Opt<$crate::settings::Int<u32, 1, 16384>> = None;
                "When the screen changes size, re-fit the region from this request (a full-screen
                capture follows the screen) and re-send everything. With false, a change that
                leaves the region off the screen ends the capture with `ERR_SCREEN_CHANGED`."
                auto_resize "autoResize" "boolean" =>
                    auto_resize: $crate::settings::Flag = true;
            }
            pacing Pacing "How often frames are captured, and how far the consumer may fall behind." {
                "Frames per second to capture at, at most. On a still screen a drawing is read as
                soon as it is reported, and the next frame follows one interval later."
                target_fps "targetFps" "number" =>
                    fps: $crate::settings::Fps = 60.0;
                "Deliveries waiting for JavaScript above which new frames are skipped until the
                callback catches up (counted in `stats().framesSkipped`)."
                max_queued_stripes "maxQueuedStripes" "number" =>
                    max_queued: $crate::settings::Int<u32, 1, 1_000_000> = 256;
            }
            layout Layout "How the region is cut and coded: changing any of these re-sends everything." {
                "`0` or `'jpeg'`: JPEG stripes; `1` or `'h264'`: H.264."
                output_mode "outputMode" "0 | 1 | 'jpeg' | 'h264'" =>
                    mode: $crate::settings::Choice<$crate::settings::OutputMode> =
                        $crate::settings::OutputMode::H264;
                "Rows per stripe. Default 128 for JPEG; striped H.264 cuts the region into equal
                stripes of about 256 rows in whole 16-row macroblock rows (1080 rows: 4 x 272).
                Only changed stripes are encoded (for JPEG only their changed rows)."
                stripe_height "stripeHeight" "number" =>
                    stripe_height: $crate::settings::Opt<$crate::settings::StripeRowsKind> = None;
                "One H.264 stream for the whole region (true) or one per stripe (false)."
                h264_fullframe "h264Fullframe" "boolean" =>
                    h264_fullframe: $crate::settings::Flag = true;
                "H.264 in 4:4:4 (High 4:4:4 Predictive) instead of 4:2:0."
                h264_fullcolor "h264Fullcolor" "boolean" =>
                    h264_fullcolor: $crate::settings::Flag = false;
                "JPEG only: a delivery covers only the changed 128-pixel columns of its band too,
                with its x in a 10-byte header (`0x03 0x01`, frame id, y, x, region width) and in
                `x`. A typed glyph then sends about 1 KB instead of a full-width band.
                `stripecast/client` draws tiles; pixelflux's clients cannot."
                jpeg_tiles "jpegTiles" "boolean" =>
                    jpeg_tiles: $crate::settings::Flag = false;
                "JPEG only: when rows moved (a page or a window's content scrolling), send a 16-byte
                copy message (`0x05 0x00`, frame id, source x, y, width, height, destination x,
                y) before the frame's stripes instead of re-encoding them; only the newly exposed
                rows go out as JPEG, at `paintOverJpegQuality` (and 4:4:4 under `'auto'`), since
                they travel by copy and are not re-encoded. `stripecast/client` applies copies; pixelflux's clients
                cannot. Ignored for H.264 and with `omitStripeHeaders` (said in
                `CaptureInfo.notes`)."
                scroll_copies "scrollCopies" "boolean" =>
                    scroll_copies: $crate::settings::Flag = false;
            }
            jpeg JpegSettings "JPEG quality and chroma." {
                "JPEG quality of changed stripes."
                jpeg_quality "jpegQuality" "number" =>
                    quality: $crate::settings::Int<u8, 0, 100> = 75;
                "JPEG quality of paint-over (still stripes sent again), and of rows a scroll copy exposes."
                paint_over_jpeg_quality "paintOverJpegQuality" "number" =>
                    paint_over_quality: $crate::settings::Int<u8, 0, 100> = 90;
                "JPEG chroma resolution: `'auto'` chooses per picture from its pixels, 4:4:4 where
                4:2:0 would lose more to coloured detail (coloured text, 1-px coloured lines) than
                this quality loses anyway, else 4:2:0 (and 4:2:0 for content in sustained
                motion, until its paint-over); `'420'` always halves chroma (least CPU);
                `'444'` never does. A picture with no colour is sent as a one-component (grey)
                JPEG under every value."
                jpeg_subsampling "jpegSubsampling" "'420' | '444' | 'auto'" =>
                    subsampling: $crate::settings::NameOf<$crate::settings::Subsampling> =
                        $crate::settings::Subsampling::Auto;
            }
            h264 H264Settings "H.264 quality and rate control." {
                "H.264 constant rate factor (lower: better quality, more bytes)."
                h264_crf "h264Crf" "number" =>
                    crf: $crate::settings::Int<u8, 0, 51> = 23;
                "CRF of H.264 paint-over refreshes of still content. Default `h264Crf - 5`."
                h264_paint_over_crf "h264PaintOverCrf" "number" =>
                    paint_over_crf: $crate::settings::Opt<$crate::settings::Int<u8, 0, 51>> = None;
                "How x264 uses `h264Crf`: `'crf'` (as pixelflux) adapts the quantiser to
                each picture, measured on a half-size copy of it; `'cqp'` codes P pictures at
                quantiser `h264Crf` (IDRs 3 lower), as the hardware encoders always do: 10-27%
                less CPU at equal quality in the benchmark, but small or easily predicted changes
                are not coded finer (CRF 23 matched QP 26 on full-screen video, 19-22 on typing and
                a moving window, 17 on scrolling text)."
                h264_rate_control "h264RateControl" "'crf' | 'cqp'" =>
                    rate_control: $crate::settings::NameOf<$crate::settings::RateControl> =
                        $crate::settings::RateControl::Crf;
                "Seconds between forced H.264 key frames; 0: only on demand."
                keyframe_interval_s "keyframeIntervalS" "number" =>
                    keyframe_interval_s: $crate::settings::Seconds = 0.0;
            }
            hardware HardwareSettings "Which H.264 encoder: a change plans the capture again." {
                "VA-API render node `/dev/dri/renderD(128+n)` for hardware H.264; -1 skips VA-API
                and lets NVENC be tried."
                vaapi_render_node_index "vaapiRenderNodeIndex" "number" =>
                    vaapi_node: $crate::settings::Int<i32, -1, 63> = -1;
                "Never use a hardware encoder."
                use_cpu "useCpu" "boolean" =>
                    use_cpu: $crate::settings::Flag = false;
            }
            paint_over PaintOver "Still stripes sent again at higher quality." {
                "Re-send stripes that stopped changing at the paint-over quality."
                use_paint_over_quality "usePaintOverQuality" "boolean" =>
                    enabled: $crate::settings::Flag = true;
                "Still frames before a paint-over."
                paint_over_trigger_frames "paintOverTriggerFrames" "number" =>
                    after_frames: $crate::settings::Int<u32, 1, 100_000> = 15;
            }
            damage Damage "Stripes that keep changing: sent whenever drawn, without hashing." {
                "Consecutive changed frames that mark a stripe as damaged."
                damage_block_threshold "damageBlockThreshold" "number" =>
                    threshold: $crate::settings::Int<u32, 1, 100_000> = 10;
                "Frames a damaged stripe stays damaged."
                damage_block_duration "damageBlockDuration" "number" =>
                    duration: $crate::settings::Int<u32, 1, 100_000> = 30;
            }
            overlay Overlay "What is drawn over the capture." {
                "Draw the mouse cursor into the image (needs XFixes). On a still screen, pointer
                motion (XInput 2) is then captured at once."
                capture_cursor "captureCursor" "boolean" =>
                    cursor: $crate::settings::Flag = true;
                "PNG file drawn over the capture. Default: none."
                watermark_path "watermarkPath" "string" =>
                    watermark_path: $crate::settings::FilePath = None;
                "Watermark position: 0 `'none'`, 1 `'top-left'`, 2 `'top-right'`, 3
                `'bottom-left'`, 4 `'bottom-right'`, 5 `'middle'`, 6 `'animated'` (bounces around
                the region)."
                watermark_location_enum "watermarkLocationEnum"
                    "0 | 1 | 2 | 3 | 4 | 5 | 6 | 'none' | 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' | 'middle' | 'animated'" =>
                    watermark_location: $crate::settings::Choice<$crate::settings::WatermarkLocation> =
                        $crate::settings::WatermarkLocation::BottomRight;
            }
            delivery Delivery "What each delivery carries." {
                "Deliver bare JFIF / Annex-B payloads without the 6- or 10-byte stripe header."
                omit_stripe_headers "omitStripeHeaders" "boolean" =>
                    omit_headers: $crate::settings::Flag = false;
            }
        }
    };
}

/// Makes the options, the groups, the config, validation and the descriptors from the rows.
macro_rules! define_settings {
    ($(
        $group:ident $Group:ident $gdoc:literal {
            $( $doc:literal $name:ident $js:literal $ts:literal => $field:ident : $kind:ty = $default:expr ; )*
        }
    )*) => {
        /// What the user asked for, as the binding hands it over (choices given by name are
        /// their numbers). `None` means "use the default".
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct CaptureOptions {
            $($( pub $name: Option<<$kind as Kind>::Raw>, )*)*
        }

        impl CaptureOptions {
            /// These options with every field that `update` sets replaced by its value.
            pub fn merged_with(&self, update: &CaptureOptions) -> CaptureOptions {
                CaptureOptions {
                    $($( $name: update.$name.clone().or_else(|| self.$name.clone()), )*)*
                }
            }

            /// Checks every field and fills in defaults. Pure: touches no display or file.
            pub fn validate(&self) -> Result<Config, SettingsError> {
                Ok(Config {
                    $( $group: $Group {
                        $( $field: match self.$name.clone() {
                            Some(raw) => <$kind as Kind>::check($js, raw)?,
                            None => $default,
                        }, )*
                    }, )*
                })
            }
        }

        $(
            #[doc = $gdoc]
            #[derive(Debug, Clone, PartialEq)]
            pub struct $Group {
                $( #[doc = $doc] pub $field: <$kind as Kind>::Out, )*
            }
        )*

        /// Validated configuration, in groups; every value is in range.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $( #[doc = $gdoc] pub $group: $Group, )*
        }

        impl Config {
            /// The value of the setting named `js`, as [`Kind::show`] writes it.
            pub fn shown(&self, js: &str) -> Option<String> {
                $($( if js == $js {
                    return Some(<$kind as Kind>::show(&self.$group.$field));
                } )*)*
                None
            }
        }

        impl CaptureOptions {
            /// The raw value given for the setting named `js`, as [`Kind::show_raw`] writes
            /// it; `None` when not given (or unknown).
            pub fn shown(&self, js: &str) -> Option<String> {
                $($( if js == $js {
                    return self.$name.as_ref().map(<$kind as Kind>::show_raw);
                } )*)*
                None
            }
        }

        impl CaptureOptions {
            /// Sets the setting named `js` to `value`; false when there is no such setting or
            /// `value` is not of its raw type (what the binding hands over, see [`JsType`]).
            pub fn set(&mut self, js: &str, value: RawValue) -> bool {
                $($( if js == $js {
                    let raw = <<$kind as Kind>::Raw as FromRawValue>::from_raw_value(value);
                    let ok = raw.is_some();
                    self.$name = raw.or(self.$name.take());
                    return ok;
                } )*)*
                false
            }
        }

        /// Every setting, in the table's order.
        pub static SETTINGS: &[Setting] = &[
            $($( Setting {
                js: $js,
                ts: $ts,
                doc: $doc,
                group: stringify!($group),
                info: <$kind as Kind>::info,
                default: || <$kind as Kind>::show(&$default),
            }, )*)*
        ];
    };
}

pub(crate) use define_settings;
