//! The napi binding: a thin layer that turns JavaScript settings into a checked core config,
//! starts the core pipeline, and carries its deliveries and errors back to JavaScript.

#![deny(clippy::all)]

mod convert;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{JsError, JsRangeError, JsTypeError, JsValue, ValueType};
use napi_derive::napi;

use stripecast_core::capture::frames::FrameFeed;
use stripecast_core::capture::wayland::{is_wayland_name, WlrCapture};
use stripecast_core::capture::x11::X11Capture;
use stripecast_core::capture::Source;
use stripecast_core::geometry::Bounds;
use stripecast_core::pipeline::{
    hardware_choice, load_watermark, monotonic_ns, plan, CaptureHandle, Controls, Delivery,
    Pipeline, PipelineError, Sink, Update,
};
use stripecast_core::settings::{
    CaptureOptions, Config, OutputMode, SettingsError, SettingsErrorKind,
};
use stripecast_core::window::DeliveryWindow;

use convert::{describe_value, settings_from_js};
pub use convert::{
    CaptureInfo, CaptureStats, HardwareEncoders, Monitor, StreamInfo, StripeEncodeResult,
};
use stripecast_core::encode::hw::probe;

/// Calls the user's stripe callback; runs on the JS thread.
type StripeTsfn = ThreadsafeFunction<Delivery, (), StripeEncodeResult, Status, false, false, 0>;
/// Reports native-thread errors; weak, so it never keeps the process alive by itself.
type ErrorTsfn =
    ThreadsafeFunction<NativeError, UnknownReturnValue, JsErrorArg, Status, false, true, 0>;

/// An error raised on a native thread, with a stable `code` for programs to branch on.
struct NativeError {
    code: &'static str,
    message: String,
    /// The capture ended because of it.
    fatal: bool,
}

/// A JavaScript `Error` built on the JS thread from a [`NativeError`]: `code`, `message`, and
/// `fatal` (true when the capture ended because of it).
struct JsErrorArg(NativeError);

impl ToNapiValue for JsErrorArg {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        let NativeError {
            code,
            message,
            fatal,
        } = val.0;
        let error = JsError::from(napi::Error::new(code, message)).into_value(env);
        let mut flag = std::ptr::null_mut();
        // SAFETY: on the JS thread with a live env; `error` is the object just created.
        unsafe {
            napi::sys::napi_get_boolean(env, fatal, &mut flag);
            napi::sys::napi_set_named_property(env, error, c"fatal".as_ptr(), flag);
        }
        Ok(error)
    }
}

/// Which JavaScript error class a thrown error gets.
enum ErrorClass {
    Error,
    Range,
    Type,
}

/// Throws a JavaScript error with `code` and `message` and returns the marker error that tells
/// napi the exception is already pending.
fn throw(env: &Env, class: ErrorClass, code: &str, message: String) -> napi::Error {
    throw_with(env, class, code, message, None)
}

/// Like [`throw`], with a `setting` property naming the setting at fault.
fn throw_with(
    env: &Env,
    class: ErrorClass,
    code: &str,
    message: String,
    setting: Option<&str>,
) -> napi::Error {
    let err = napi::Error::new(code.to_string(), message.clone());
    let value = match class {
        ErrorClass::Error => JsError::from(err).into_unknown(*env),
        ErrorClass::Range => JsRangeError::from(err).into_unknown(*env),
        ErrorClass::Type => JsTypeError::from(err).into_unknown(*env),
    };
    if let (Some(name), Ok(mut object)) = (setting, Object::from_unknown(value)) {
        // Best effort: without the property the error still names the setting in its message.
        let _ = object.set_named_property("setting", name);
    }
    let _ = env.throw(value);
    napi::Error::new(Status::PendingException, message)
}

/// Whether to capture a Wayland compositor: `display` names its socket, or none is given,
/// `$DISPLAY` is unset and `$WAYLAND_DISPLAY` is set.
fn wants_wayland(display: Option<&str>) -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    match display {
        Some(d) => is_wayland_name(d),
        None => !set("DISPLAY") && set("WAYLAND_DISPLAY"),
    }
}

/// What the region is fitted into: the screen, or the `monitor` asked for, as `source` reports
/// its monitors now (a `RangeError` naming the monitors there are when it does not exist).
fn bounds_of(
    env: &Env,
    config: &Config,
    source: &mut dyn Source,
    screen: (u32, u32),
) -> Result<Bounds> {
    let Some(want) = &config.region.monitor else {
        return Ok(Bounds::screen(screen));
    };
    let monitors = source
        .monitors()
        .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
    Bounds::monitor(want, &monitors, screen).map_err(|m| {
        throw_with(
            env,
            ErrorClass::Range,
            "ERR_INVALID_SETTING",
            format!("monitor: {m}"),
            Some("monitor"),
        )
    })
}

fn monitor_of_frames(env: &Env) -> napi::Error {
    throw_with(
        env,
        ErrorClass::Type,
        "ERR_INVALID_SETTING",
        "monitor cannot be used with a capture made by ScreenCapture.fromFrames(): it picks a monitor of an X display".into(),
        Some("monitor"),
    )
}

fn throw_settings_error(env: &Env, e: &SettingsError) -> napi::Error {
    let class = match e.kind {
        SettingsErrorKind::Range => ErrorClass::Range,
        SettingsErrorKind::Type => ErrorClass::Type,
    };
    // "settings" is the object as a whole (an unknown name), not one setting.
    let setting = (e.field != "settings").then_some(e.field);
    throw_with(
        env,
        class,
        "ERR_INVALID_SETTING",
        e.message.clone(),
        setting,
    )
}

/// The settings argument, checked: a `TypeError` (`ERR_INVALID_ARG`) when it is not an object,
/// the usual settings errors for a bad field.
fn settings_arg(env: &Env, value: Unknown<'_>) -> Result<CaptureOptions> {
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Err(throw(
            env,
            ErrorClass::Type,
            "ERR_INVALID_ARG",
            format!(
                "settings must be an object such as {{ outputMode: 'jpeg' }}, got {}",
                describe_value(&value)?
            ),
        ));
    }
    settings_from_js(value)?.map_err(|e| throw_settings_error(env, &e))
}

/// A callback argument, or a `TypeError` naming it.
fn function_arg<'a, Args: JsValuesTupleIntoVec, Ret: FromNapiValue>(
    env: &Env,
    name: &str,
    value: Unknown<'a>,
) -> Result<Function<'a, Args, Ret>> {
    if value.get_type()? != ValueType::Function {
        let got = format!("{:?}", value.get_type()?).to_lowercase();
        return Err(throw(
            env,
            ErrorClass::Type,
            "ERR_INVALID_ARG",
            format!("{name} must be a function, got {got}"),
        ));
    }
    // SAFETY: checked to be a function just above.
    unsafe { Function::from_napi_value(env.raw(), value.raw()) }
}

/// Hands an exception thrown (or a rejection returned) by the stripe callback to `onError`, or
/// to stderr when there is none.
fn report_callback_error(
    env: &Env,
    on_error: Option<&FunctionRef<Unknown<'static>, UnknownReturnValue>>,
    value: Unknown<'_>,
) -> Result<()> {
    match on_error {
        Some(handler) => {
            // SAFETY: the value lives in the current handle scope, as the handler call does.
            let value: Unknown<'static> =
                unsafe { Unknown::from_raw_unchecked(env.raw(), value.raw()) };
            handler.borrow_back(env)?.call(value)?;
        }
        None => {
            let text = value
                .coerce_to_string()
                .and_then(|s| s.into_utf8())
                .and_then(|s| s.into_owned())
                .unwrap_or_else(|_| "(unprintable value)".into());
            eprintln!("stripecast: the onStripe callback failed: {text}");
        }
    }
    Ok(())
}

/// The bridge from the pipeline's threads to JavaScript.
struct JsSink {
    stripes: Mutex<Option<StripeTsfn>>,
    errors: Mutex<Option<ErrorTsfn>>,
    /// Deliveries queued towards JS and not yet returned from the callback.
    in_flight: Arc<AtomicUsize>,
    /// Cleared by `stop()`: queued deliveries that arrive later are discarded, not delivered.
    active: Arc<AtomicBool>,
}

impl Sink for JsSink {
    fn deliver(&self, delivery: Delivery) -> bool {
        let guard = self.stripes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tsfn) = guard.as_ref() else {
            return false;
        };
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::SeqCst);
        let counter = in_flight.clone();
        let status = tsfn.call_with_return_value(
            delivery,
            ThreadsafeFunctionCallMode::NonBlocking,
            move |_, _| {
                counter.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            },
        );
        if status != Status::Ok {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn error(&self, error: PipelineError) {
        let (code, fatal) = match &error {
            PipelineError::Capture(_) => ("ERR_CAPTURE", true),
            PipelineError::Encode { .. } => ("ERR_ENCODE", false),
            PipelineError::Watermark(_) => ("ERR_WATERMARK", false),
            PipelineError::ScreenChanged { .. } | PipelineError::MonitorGone(_) => {
                ("ERR_SCREEN_CHANGED", true)
            }
            PipelineError::Fallback(_) => ("ERR_ENCODER_FALLBACK", false),
        };
        self.report(NativeError {
            code,
            message: error.to_string(),
            fatal,
        });
    }

    fn finished(&self) {
        // Releasing the threadsafe function lets the event loop end once queued calls drain.
        drop(
            self.stripes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

impl JsSink {
    fn report(&self, e: NativeError) {
        let guard = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tsfn) => {
                tsfn.call(e, ThreadsafeFunctionCallMode::NonBlocking);
            }
            None => eprintln!("stripecast: {} ({})", e.message, e.code),
        }
    }
}

struct Running {
    handle: CaptureHandle,
    sink: Arc<JsSink>,
    /// Keeps the JavaScript object alive while it captures, like a listening server.
    this_ref: Option<ObjectRef<false>>,
    /// The options in force (what `updateSettings` merges into).
    options: CaptureOptions,
    display: String,
    screen: (u32, u32),
    /// `maxQueuedStripes` in force: a pushed frame is refused while this many wait.
    max_queued: usize,
}

/// Captures an X11 screen region and delivers changed stripes, encoded, to a callback.
///
/// A running capture keeps the Node.js event loop alive (like a listening server) until
/// `stop()`; call `unref()` to let the process exit while it runs.
#[napi]
pub struct ScreenCapture {
    running: Option<Running>,
    refed: bool,
    /// Counters of the latest capture, kept readable after it stops.
    last: Option<(Arc<Controls>, Arc<Mutex<DeliveryWindow>>)>,
    /// Where frames come from when made by `fromFrames()`; `None`: an X display.
    feed: Option<FrameFeed>,
}

impl Default for ScreenCapture {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl ScreenCapture {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self {
            running: None,
            refed: true,
            last: None,
            feed: None,
        }
    }

    /// Starts capturing. Settings are validated and the display opened before anything starts:
    /// a bad value throws a `RangeError`/`TypeError` naming the field, a display that cannot be
    /// opened throws an `Error`. `onStripe` receives every encoded stripe; `onError` receives
    /// errors raised on native threads (capture lost, encoder failure, a throwing `onStripe`).
    /// Returns the geometry actually captured.
    #[napi(
        ts_args_type = "settings: CaptureSettings, onStripe: (stripe: StripeEncodeResult) => void | Promise<void>, onError?: (error: Error & { code?: string; fatal?: boolean }) => void"
    )]
    pub fn start(
        &mut self,
        env: &Env,
        this: This<'_>,
        settings: Unknown<'_>,
        on_stripe: Unknown<'_>,
        on_error: Option<Unknown<'_>>,
    ) -> Result<CaptureInfo> {
        // Every argument is checked before anything is opened or started.
        let on_stripe: Function<'_, Unknown<'static>, Unknown<'static>> =
            function_arg(env, "onStripe", on_stripe)?;
        let on_error: Option<Function<'_, Unknown<'static>, UnknownReturnValue>> = match on_error {
            Some(f) if f.get_type()? != ValueType::Undefined => {
                Some(function_arg(env, "onError", f)?)
            }
            _ => None,
        };
        let settings = settings_arg(env, settings)?;
        if self.running.as_ref().is_some_and(|r| r.handle.is_running()) {
            return Err(throw(
                env,
                ErrorClass::Error,
                "ERR_ALREADY_STARTED",
                "capture is already running; call stop() first".into(),
            ));
        }
        self.stop_inner(env);

        let options = settings;
        let config = options
            .validate()
            .map_err(|e| throw_settings_error(env, &e))?;
        let (mut capture, display): (Box<dyn Source>, String) = match &self.feed {
            Some(feed) => {
                if config.region.display.is_some() {
                    return Err(throw_with(
                        env,
                        ErrorClass::Type,
                        "ERR_INVALID_SETTING",
                        "display cannot be used with a capture made by ScreenCapture.fromFrames(): its frames come from pushFrame()".into(),
                        Some("display"),
                    ));
                }
                if config.region.monitor.is_some() {
                    return Err(monitor_of_frames(env));
                }
                (Box::new(feed.source()), "frames".into())
            }
            None if wants_wayland(config.region.display.as_deref()) => {
                let wl = WlrCapture::open(config.region.display.as_deref(), config.overlay.cursor)
                    .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
                let display = wl.display().to_string();
                (Box::new(wl), display)
            }
            None => {
                let x11 = X11Capture::open(config.region.display.as_deref())
                    .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
                let display = x11.display().to_string();
                (Box::new(x11), display)
            }
        };
        let (sw, sh) = capture.screen_size();
        let bounds = bounds_of(env, &config, &mut *capture, (sw, sh))?;
        let clamped = config
            .region
            .clamp_within(&bounds, config.layout.mode == OutputMode::H264)
            .map_err(|e| throw_settings_error(env, &e))?;
        let max_queued = config.pacing.max_queued as usize;
        let pipeline = Pipeline::new(config, capture, clamped.region).map_err(|e| {
            let (code, setting) = match e {
                PipelineError::Watermark(_) => ("ERR_WATERMARK", Some("watermarkPath")),
                _ => ("ERR_START", None),
            };
            throw_with(env, ErrorClass::Error, code, e.to_string(), setting)
        })?;
        let info = CaptureInfo::new(
            pipeline.plan(),
            clamped.region,
            &display,
            (sw, sh),
            clamped.notes,
        );

        let active = Arc::new(AtomicBool::new(true));
        let window = Arc::new(Mutex::new(DeliveryWindow::default()));
        let window_js = window.clone();
        let user_cb = on_stripe.create_ref()?;
        let on_error_ref = on_error
            .as_ref()
            .map(|f| f.create_ref().map(Arc::new))
            .transpose()?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let gate_in_flight = in_flight.clone();
        let gate_active = active.clone();
        // The threadsafe function calls this gate, which forwards to the user's callback only
        // while the capture is active: nothing arrives after stop() returns.
        let gate = env.create_function_from_closure::<StripeEncodeResult, (), _>(
            "stripecastDeliver",
            move |ctx| {
                if !gate_active.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let stripe: Unknown<'static> = ctx.get(0)?;
                let env = Env::from_raw(ctx.env.raw());
                match user_cb.borrow_back(ctx.env)?.call(stripe) {
                    Ok(ret) if ret.is_promise()? => {
                        // An async callback keeps its stripe counted as queued until the
                        // promise settles, so a slow consumer gets the same back-pressure.
                        gate_in_flight.fetch_add(1, Ordering::SeqCst);
                        let (in_flight, on_error) = (gate_in_flight.clone(), on_error_ref.clone());
                        let promise = PromiseRaw::<Unknown>::new(env.raw(), ret.raw());
                        let mut settled = promise.catch(move |c: CallbackContext<Unknown>| {
                            report_callback_error(&c.env, on_error.as_deref(), c.value)
                        })?;
                        settled.finally(move |_| {
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })?;
                    }
                    Ok(_) => {}
                    // A throwing callback must not end the capture: report and go on.
                    Err(thrown) => report_callback_error(
                        &env,
                        on_error_ref.as_deref(),
                        JsError::from(thrown).into_unknown(env),
                    )?,
                }
                Ok(())
            },
        )?;
        let stripes: StripeTsfn = gate
            .build_threadsafe_function::<Delivery>()
            .callee_handled::<false>()
            .weak::<false>()
            .build_callback(move |ctx: ThreadsafeCallContext<Delivery>| {
                let d = ctx.value;
                let latency_ms = monotonic_ns().saturating_sub(d.capture_time_ns) as f64 / 1e6;
                window_js.lock().unwrap_or_else(|e| e.into_inner()).record(
                    d.frame_id,
                    latency_ms,
                    Instant::now(),
                );
                Ok(StripeEncodeResult::from(d))
            })?;
        let errors: Option<ErrorTsfn> = match &on_error {
            Some(f) => Some(
                f.build_threadsafe_function::<NativeError>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|ctx: ThreadsafeCallContext<NativeError>| {
                        Ok(JsErrorArg(ctx.value))
                    })?,
            ),
            None => None,
        };
        let sink = Arc::new(JsSink {
            stripes: Mutex::new(Some(stripes)),
            errors: Mutex::new(errors),
            in_flight,
            active,
        });
        if !self.refed {
            sink.set_ref(env, false);
        }
        let handle = pipeline.start(sink.clone()).map_err(|e| {
            throw(
                env,
                ErrorClass::Error,
                "ERR_START",
                format!("cannot start the capture thread: {e}"),
            )
        })?;
        let this_ref = Some(this.object.create_ref::<false>()?);
        self.last = Some((handle.controls().clone(), window));
        self.running = Some(Running {
            handle,
            sink,
            this_ref,
            options,
            display,
            screen: (sw, sh),
            max_queued,
        });
        Ok(info)
    }

    /// Stops capturing and joins the native threads. Idempotent; safe to call from inside the
    /// stripe callback. No callback runs after it returns.
    #[napi]
    pub fn stop(&mut self, env: &Env) {
        self.stop_inner(env);
    }

    fn stop_inner(&mut self, env: &Env) {
        if let Some(mut r) = self.running.take() {
            r.sink.active.store(false, Ordering::SeqCst);
            r.handle.stop();
            r.sink.finished();
            drop(
                r.sink
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
            );
            if let Some(this_ref) = r.this_ref.take() {
                let _ = this_ref.unref(env);
            }
        }
    }

    /// Changes settings of the running capture without restarting it; they apply before the
    /// next frame. Fields left out keep their values. Quality, rate, paint-over, damage,
    /// cursor and watermark settings keep the encoders where they can; region, stripe height,
    /// codec, colour format, JPEG subsampling or hardware choice changes rebuild the streams and
    /// re-send everything. Invalid values
    /// throw the same errors as `start()` and leave the capture as it was. Returns the geometry
    /// now in force. The display cannot change (stop and start instead).
    #[napi(ts_args_type = "settings: CaptureSettings")]
    pub fn update_settings(&mut self, env: &Env, settings: Unknown<'_>) -> Result<CaptureInfo> {
        let settings = settings_arg(env, settings)?;
        let Some(running) = self.running.as_mut().filter(|r| r.handle.is_running()) else {
            return Err(throw(
                env,
                ErrorClass::Error,
                "ERR_NOT_STARTED",
                "updateSettings() needs a running capture; call start() first".into(),
            ));
        };
        let update = settings;
        if update.display.is_some() && update.display != running.options.display {
            return Err(throw(
                env,
                ErrorClass::Type,
                "ERR_INVALID_SETTING",
                "display cannot change while capturing; stop() and start() again".into(),
            ));
        }
        let options = running.options.merged_with(&update);
        let config = options
            .validate()
            .map_err(|e| throw_settings_error(env, &e))?;
        let (sw, sh) = running.screen;
        // A monitor is looked up afresh on a connection of its own: the capture's is its
        // thread's.
        let bounds = match (&config.region.monitor, &self.feed) {
            (None, _) => Bounds::screen((sw, sh)),
            (Some(_), Some(_)) => return Err(monitor_of_frames(env)),
            (Some(_), None) => {
                let mut x11 = X11Capture::open(Some(&running.display))
                    .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
                let screen = x11.screen_size();
                bounds_of(env, &config, &mut x11, screen)?
            }
        };
        let clamped = config
            .region
            .clamp_within(&bounds, config.layout.mode == OutputMode::H264)
            .map_err(|e| throw_settings_error(env, &e))?;
        let watermark = load_watermark(&config).map_err(|e| {
            let message = e.to_string();
            throw_with(
                env,
                ErrorClass::Error,
                "ERR_WATERMARK",
                message,
                Some("watermarkPath"),
            )
        })?;
        // The hardware encoder stays what it is unless the settings that choose it changed
        // (only then is the host probed again).
        let controls = running.handle.controls();
        let same_hardware = running.options.validate().is_ok_and(|old| {
            (old.layout.mode, &old.hardware) == (config.layout.mode, &config.hardware)
        });
        let choice = match controls.hardware_choice() {
            Some(choice) if same_hardware => choice,
            _ => hardware_choice(&config),
        };
        let info = CaptureInfo::new(
            &plan(&config, clamped.region, &choice),
            clamped.region,
            &running.display,
            (sw, sh),
            clamped.notes,
        );
        running.options = options;
        running.max_queued = config.pacing.max_queued as usize;
        controls.update(Update {
            config,
            region: clamped.region,
            choice,
            watermark,
        });
        Ok(info)
    }

    /// True while the capture thread runs (false after `stop()` or a fatal capture error).
    #[napi(getter)]
    pub fn is_capturing(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.handle.is_running())
    }

    /// The next frame of every stripe is a key frame (H.264 IDR; a full refresh for JPEG), even
    /// on a static screen: call it when a viewer joins.
    #[napi]
    pub fn request_keyframe(&self) {
        if let Some(r) = &self.running {
            r.handle.controls().request_keyframe();
        }
    }

    /// Lets the process exit while this capture runs (Node's `unref()` idiom).
    #[napi]
    pub fn unref(&mut self, env: &Env) -> &Self {
        self.refed = false;
        if let Some(r) = &self.running {
            r.sink.set_ref(env, false);
        }
        self
    }

    /// Undoes `unref()`: a running capture keeps the event loop alive again.
    #[napi(js_name = "ref")]
    pub fn refer(&mut self, env: &Env) -> &Self {
        self.refed = true;
        if let Some(r) = &self.running {
            r.sink.set_ref(env, true);
        }
        self
    }

    /// Which capture path and encoder are in use, and why a faster one was declined (e.g.
    /// `nvenc: libnvidia-encode.so.1 not found`). `null` before the first `start()`.
    #[napi]
    pub fn stream_info(&self) -> Option<StreamInfo> {
        self.last.as_ref().map(|(c, _)| c.stream_status().into())
    }

    /// The monitors of an X display (`display`, default `$DISPLAY`) as RandR 1.5 reports them,
    /// in the order the `monitor` setting counts them. Throws `ERR_DISPLAY` when the display
    /// cannot be opened.
    #[napi]
    pub fn monitors(env: &Env, display: Option<String>) -> Result<Vec<Monitor>> {
        let mut x11 = X11Capture::open(display.as_deref())
            .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
        let list = x11
            .monitors()
            .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
        Ok(list.into_iter().enumerate().map(Monitor::from).collect())
    }

    /// What this host offers for hardware H.264 (NVENC, VA-API render nodes), probed without
    /// starting a capture. Takes a moment when a GPU driver is present (it initialises it).
    #[napi]
    pub fn hardware_encoders() -> HardwareEncoders {
        probe::probe().into()
    }

    /// Counters since `start()`.
    #[napi]
    pub fn stats(&self) -> CaptureStats {
        let queued = self.running.as_ref().map_or(0, |r| r.sink.in_flight());
        let mut stats = match &self.last {
            Some((controls, window)) => {
                let recent = window
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .snapshot(Instant::now());
                CaptureStats::new(controls, queued, recent)
            }
            None => CaptureStats::default(),
        };
        if let Some((pushed, refused)) = frames::frame_counts(self) {
            (stats.frames_pushed, stats.pushes_refused) = (pushed as f64, refused as f64);
        }
        stats
    }
}

/// Checks `settings` as `start()` would, without opening the display or any file: throws the
/// same `RangeError`/`TypeError` (`code: 'ERR_INVALID_SETTING'`, `setting`: the setting's name)
/// for a value `start()` would refuse. What only the display can tell (a region off the screen,
/// a display that does not answer) and an unreadable watermark are still `start()`'s to report.
#[napi(ts_args_type = "settings: CaptureSettings")]
pub fn check_settings(env: &Env, settings: Unknown<'_>) -> Result<()> {
    settings_arg(env, settings)?
        .validate()
        .map(|_| ())
        .map_err(|e| throw_settings_error(env, &e))
}

impl JsSink {
    #[allow(deprecated)]
    fn set_ref(&self, env: &Env, refed: bool) {
        if let Some(tsfn) = self
            .stripes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let _ = if refed {
                tsfn.refer(env)
            } else {
                tsfn.unref(env)
            };
        }
    }
}

mod clipboard;
pub use clipboard::Clipboard;

// After `ScreenCapture`: napi's macro must have seen the struct before an `impl` of it.
mod frames;
mod input;
pub use input::{InputHeld, InputInjector, InputRegion};
mod screenshot;
