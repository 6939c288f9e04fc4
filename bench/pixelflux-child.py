#!/usr/bin/env python3
"""pixelflux side of bench/run.mjs: one capture, measured like shared/reference/pixelflux_probe.py.

The measuring part is the probe's, unchanged in what it counts: delivered frames/s (distinct
frame ids), stripes/s, payload bytes/s, CPU of the whole process (getrusage RUSAGE_SELF) per
second and per delivered frame, capture-to-callback latency from the frame's own capture_ns.
Differences from the probe: the damage-block settings are passed explicitly (pixelflux's own
defaults, the same values stripecast is given), and what this adds for the quality figure and
the side-by-side driver:

- every callback keeps a copy of its payload (the latest one per stripe for JPEG, the whole
  stream per stripe for H.264), the same work bench/stripecast-child.mjs does, so that the
  parent can decode what a viewer would see;
- a line protocol on stdout/stdin: `{"event": "window-start"}` when the measured window opens,
  `{"event": "measured", ...figures}` when it closes; the capture then goes on, and each
  `snap NAME` from the parent (which freezes the scene first) writes what a viewer has at that
  moment to --out/NAME (`{"event": "snap", "name": NAME}`); `finish` stops it
  (`{"event": "done"}`). pixelflux itself prints `[X11] ...` lines on stdout: the parent skips
  every line that is not JSON.
- `--wire` (bench/rd.mjs): every snap also writes wire.bin, each delivered payload as pixelflux
  gave it (wire header included) in arrival order, as u32 BE length + bytes; `--fullcolor` sets
  video_fullcolor (H.264 4:4:4);
- memory: resident set size before the capture starts, at the end of the window, and the
  process's peak (VmRSS / VmHWM of /proc/self/status); `--keep none` (the memory pass) drops
  every payload in the callback, copying nothing, and writes nothing.
"""
import argparse, json, os, resource, sys, threading, time

from pixelflux import CaptureSettings, ScreenCapture

p = argparse.ArgumentParser()
p.add_argument("--codec", default="jpeg", choices=["jpeg", "h264"])
p.add_argument("--fullframe", action="store_true")
p.add_argument("--seconds", type=float, default=8.0)
p.add_argument("--warmup", type=float, default=2.0)
p.add_argument("--fps", type=float, default=60.0)
p.add_argument("--width", type=int, default=1920)
p.add_argument("--height", type=int, default=1080)
p.add_argument("--jpeg-quality", type=int, default=75)
p.add_argument("--crf", type=int, default=23)
p.add_argument("--damage-threshold", type=int, default=15)
p.add_argument("--damage-duration", type=int, default=30)
p.add_argument("--out", required=True)
p.add_argument("--keep", default="all", choices=["all", "none"])
p.add_argument("--fullcolor", action="store_true")
p.add_argument("--wire", action="store_true")
# JPEG: snaps also hold the viewer's picture at the window's start and every delivery of the
# window with its grab time, for the PSNR of what a viewer saw in motion.
p.add_argument("--replay", action="store_true")
a = p.parse_args()

s = CaptureSettings()
s.capture_width, s.capture_height = a.width, a.height
s.capture_x = s.capture_y = 0
s.target_fps = a.fps
s.capture_cursor = False
s.codec = a.codec
s.use_cpu = True
s.encode_node_index = -1
s.jpeg_quality = a.jpeg_quality
s.paint_over_jpeg_quality = 90
s.video_crf = a.crf
s.video_fullframe = a.fullframe
s.video_fullcolor = a.fullcolor
s.use_paint_over_quality = False
s.damage_block_threshold = a.damage_threshold
s.damage_block_duration = a.damage_duration

lock = threading.Lock()
st = {"on": False, "stripes": 0, "bytes": 0, "frames": set(), "lat": []}
last = {}  # JPEG: y -> (height, frame_id, bytes)
streams = {}  # H.264: y -> [height, [grab time ms...], [bytes...]]
wire = []  # --wire: every delivery in arrival order, up to 256 MB
wire_bytes = [0]
history = []  # --replay: (grab time ms or 0, y, height, bytes), in arrival order


def rss_mb():
    """Resident set size now and at its peak, MB (kB figures of /proc/self/status)."""
    with open("/proc/self/status") as f:
        kb = dict(l.split(":", 1) for l in f if l.startswith(("VmRSS", "VmHWM")))
    return {k: round(int(v.split()[0]) / 1024, 1) for k, v in kb.items()}


keep = a.keep != "none"


def on_stripe(frame):
    now = time.monotonic_ns()
    data = bytes(memoryview(frame)) if keep else None
    y = frame.stripe_y_start
    with lock:
        if a.wire and wire_bytes[0] < 256e6:
            w = data if data is not None else bytes(memoryview(frame))
            wire.append(w)
            wire_bytes[0] += len(w)
        if keep and a.codec == "jpeg":
            last[y] = (frame.stripe_height, frame.frame_id, data)
        elif keep:
            e = streams.get(y)
            if e is None:
                e = streams[y] = [frame.stripe_height, [], []]
            e[1].append(getattr(frame, "capture_ns", 0) / 1e6)
            e[2].append(data)
        if not st["on"]:
            return
        if a.replay and keep and a.codec == "jpeg":
            t = getattr(frame, "capture_ns", 0) or now
            history.append((t / 1e6, y, frame.stripe_height, data))
        st["stripes"] += 1
        st["bytes"] += len(frame)
        st["frames"].add(frame.frame_id)
        cap_ns = getattr(frame, "capture_ns", 0)
        if cap_ns:
            st["lat"].append((now - cap_ns) / 1e6)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


cap = ScreenCapture()
rss_before = rss_mb()["VmRSS"]
cap.start_capture(on_stripe, s)
time.sleep(a.warmup)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
with lock:
    if a.replay and keep and a.codec == "jpeg":
        history.extend((0, y, h, data) for y, (h, fid, data) in sorted(last.items()))
    st["on"] = True
emit({"event": "window-start"})
time.sleep(a.seconds)
with lock:
    st["on"] = False
    # Access units per H.264 stream when the window closed (the scene still moving).
    motion_chunks = {y: len(e[2]) for y, e in streams.items()}
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
rss = rss_mb()

dt = t1 - t0
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
frames = len(st["frames"])
lat = sorted(st["lat"])
pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
emit({
    "event": "measured", "peer": "pixelflux", "codec": a.codec, "fullframe": a.fullframe,
    "seconds": round(dt, 3), "frames": frames, "stripes": st["stripes"], "bytes": st["bytes"],
    "frames_per_s": round(frames / dt, 2), "stripes_per_s": round(st["stripes"] / dt, 2),
    "bytes_per_s": round(st["bytes"] / dt), "cpu_s": round(cpu, 4),
    "cpu_cores": round(cpu / dt, 3),
    "cpu_ms_per_frame": round(1000 * cpu / frames, 2) if frames else None,
    "latency_ms_p50": pick(0.5), "latency_ms_p99": pick(0.99), "latency_count": len(lat),
    "rss_before_mb": rss_before, "rss_end_mb": rss["VmRSS"], "rss_peak_mb": rss["VmHWM"],
})



def payload(data):
    """The JFIF / Annex-B bytes after the wire header (6 bytes JPEG, 10 bytes H.264)."""
    if data[:1] == b"\x03":
        return data[6:]
    if data[:1] == b"\x04":
        return data[10:]
    return data


def write_out(d):
    os.makedirs(d, exist_ok=True)
    with lock:
        jl = sorted(last.items())
        sl = [(y, h, list(times), list(chunks)) for y, (h, times, chunks) in sorted(streams.items())]
    meta = []
    if a.codec == "jpeg":
        for y, (h, fid, data) in jl:
            name = "jpeg-%d.bin" % y
            with open(os.path.join(d, name), "wb") as f:
                f.write(payload(data))
            meta.append({"y": y, "height": h, "file": name, "frameId": fid})
    else:
        for y, h, times, chunks in sl:
            name = "h264-%d.bin" % y
            with open(os.path.join(d, name), "wb") as f:
                for c in chunks:
                    f.write(payload(c))
            # times: when each access unit's picture was grabbed (CLOCK_MONOTONIC ms).
            meta.append({"y": y, "height": h, "file": name, "chunks": len(chunks),
                         "motionChunks": motion_chunks.get(y, 0), "times": times})
    replayed = None
    if a.replay and a.codec == "jpeg" and os.path.basename(d) == "late":
        with lock:
            hl = list(history)
        replayed = []
        for i, (t, y, h, data) in enumerate(hl):
            name = "h-%d.bin" % i
            with open(os.path.join(d, name), "wb") as f:
                f.write(payload(data))
            replayed.append({"y": y, "height": h, "file": name, "time": t})
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"codec": a.codec, "width": a.width, "height": a.height, "parts": meta,
                   "history": replayed}, f)
    if a.wire:
        with lock:
            msgs = list(wire)
        with open(os.path.join(d, "wire.bin"), "wb") as f:
            for m in msgs:
                f.write(len(m).to_bytes(4, "big"))
                f.write(m)


# After the window: `snap NAME` writes what a viewer has now to --out/NAME (the parent freezes
# the scene first), `finish` stops the capture.
while True:
    line = sys.stdin.readline()
    if not line:
        break
    w = line.split()
    if w and w[0] == "snap":
        write_out(os.path.join(a.out, w[1]))
        emit({"event": "snap", "name": w[1]})
    elif w and w[0] == "finish":
        break
cap.stop_capture()
emit({"event": "done"})
