//! The clipboard's thread: owns the X connection and the hidden window, takes commands from a
//! channel (woken through a socket pair), answers SelectionRequests while we own CLIPBOARD and
//! runs one read at a time.

use std::collections::VecDeque;
use std::io::Read as _;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, CreateWindowAux, EventMask,
    PropMode, Property, PropertyNotifyEvent, SelectionClearEvent, SelectionNotifyEvent,
    SelectionRequestEvent, Timestamp, Window, WindowClass, SELECTION_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{CURRENT_TIME, NONE};

use super::plan::{self, Answer, Encoding, Received, Target};
use super::{ClipboardError, Command, Reply, WriteDone};

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        CLIPBOARD,
        UTF8_STRING,
        TARGETS,
        TEXT,
        TIMESTAMP,
        INCR,
        // The property our reads arrive in.
        STRIPECAST_SELECTION,
        // Appended to (zero bytes) for a server timestamp.
        STRIPECAST_TIME,
    }
}

/// An INCR transfer of ours that the requestor has not finished reading.
struct Sending {
    requestor: Window,
    property: Atom,
    kind: Atom,
    data: Arc<[u8]>,
    chunks: VecDeque<std::ops::Range<usize>>,
    /// The empty property that ends the transfer has been written.
    ended: bool,
    /// Dropped when the requestor stops reading for this long.
    stale_at: Instant,
}

/// How long a requestor may leave an INCR chunk of ours unread before we give up on it.
const STALE: Duration = Duration::from_secs(10);

struct Reading {
    deadline: Instant,
    timeout: Duration,
    done: Reply,
    stage: Stage,
}

enum Stage {
    /// ConvertSelection sent for this target; waiting for SelectionNotify.
    Converting(Atom),
    /// An INCR transfer from the owner, chunk by chunk.
    Incremental { received: Received, kind: Atom },
}

pub(super) struct Worker {
    conn: RustConnection,
    window: Window,
    atoms: Atoms,
    max_bytes: usize,
    chunk: usize,
    owned: Arc<Mutex<Option<Arc<str>>>>,
    /// When we became the owner; `None` while we are not.
    owned_since: Option<Timestamp>,
    /// Texts waiting for a timestamp to become the owner with.
    writes: Vec<(Arc<str>, WriteDone)>,
    stamp_asked: bool,
    queued: VecDeque<Reading>,
    reading: Option<Reading>,
    sending: Vec<Sending>,
    commands: mpsc::Receiver<Command>,
    wake: UnixStream,
}

fn lost(e: impl std::fmt::Display) -> ClipboardError {
    ClipboardError::Lost(e.to_string())
}

type XResult<T> = Result<T, ClipboardError>;

impl Worker {
    pub(super) fn connect(
        display: &str,
        max_bytes: usize,
        owned: Arc<Mutex<Option<Arc<str>>>>,
        commands: mpsc::Receiver<Command>,
        wake: UnixStream,
    ) -> XResult<Self> {
        let open = |reason: String| ClipboardError::Open {
            display: display.to_string(),
            reason,
        };
        let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| open(e.to_string()))?;
        let root = conn.setup().roots[screen].root;
        let atoms = Atoms::new(&conn)
            .map_err(|e| open(e.to_string()))?
            .reply()
            .map_err(|e| open(e.to_string()))?;
        let window = conn.generate_id().map_err(|e| open(e.to_string()))?;
        // InputOnly and never mapped: it exists to own the selection and receive properties.
        conn.create_window(
            0,
            window,
            root,
            -1,
            -1,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            0,
            &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )
        .map_err(|e| open(e.to_string()))?
        .check()
        .map_err(|e| open(e.to_string()))?;
        wake.set_nonblocking(true)
            .map_err(|e| open(e.to_string()))?;
        let chunk = plan::incr_chunk(conn.maximum_request_bytes());
        Ok(Self {
            conn,
            window,
            atoms,
            max_bytes,
            chunk,
            owned,
            owned_since: None,
            writes: Vec::new(),
            stamp_asked: false,
            queued: VecDeque::new(),
            reading: None,
            sending: Vec::new(),
            commands,
            wake,
        })
    }

    pub(super) fn run(mut self) {
        let end = loop {
            match self.turn() {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        self.shutdown(end.unwrap_or(ClipboardError::Closed));
    }

    /// One round: commands, events, deadlines, then sleep until something happens. False when
    /// asked to close.
    fn turn(&mut self) -> XResult<bool> {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Close) | Err(mpsc::TryRecvError::Disconnected) => return Ok(false),
                Ok(command) => self.command(command)?,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let mut sink = [0u8; 64];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        self.expire();
        self.start_read()?;
        // Events last: the round trips above may have queued some inside the connection, where
        // poll(2) cannot see them.
        while let Some(event) = self.conn.poll_for_event().map_err(lost)? {
            self.event(event)?;
        }
        if self.reading.is_none() && !self.queued.is_empty() {
            return Ok(true);
        }
        self.conn.flush().map_err(lost)?;
        let next = (self.reading.iter().chain(&self.queued))
            .map(|r| r.deadline)
            .chain(self.sending.iter().map(|s| s.stale_at))
            .min();
        crate::xdisplay::wait_readable(
            &[self.conn.stream().as_raw_fd(), self.wake.as_raw_fd()],
            next.map(|t| t.saturating_duration_since(Instant::now())),
        );
        Ok(true)
    }

    /// Who owns CLIPBOARD now (`NONE`: nobody).
    fn clipboard_owner(&self) -> XResult<Window> {
        Ok(self
            .conn
            .get_selection_owner(self.atoms.CLIPBOARD)
            .map_err(lost)?
            .reply()
            .map_err(lost)?
            .owner)
    }

    fn command(&mut self, command: Command) -> XResult<()> {
        match command {
            Command::Write { text, done } => {
                self.writes.push((text, done));
                if !self.stamp_asked {
                    // A zero-length append changes nothing but brings a PropertyNotify that
                    // carries the server's time: ICCCM forbids CurrentTime for ownership.
                    self.conn
                        .change_property8(
                            PropMode::APPEND,
                            self.window,
                            self.atoms.STRIPECAST_TIME,
                            AtomEnum::INTEGER,
                            &[],
                        )
                        .map_err(lost)?;
                    self.stamp_asked = true;
                }
            }
            Command::Read {
                deadline,
                timeout,
                done,
            } => self.queued.push_back(Reading {
                deadline,
                timeout,
                done,
                stage: Stage::Converting(NONE),
            }),
            Command::Close => unreachable!("handled by turn()"),
        }
        Ok(())
    }

    fn our_text(&self) -> Option<Arc<str>> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_owned(&mut self, text: Option<(Arc<str>, Timestamp)>) {
        self.owned_since = text.as_ref().map(|t| t.1);
        *self.owned.lock().unwrap_or_else(|e| e.into_inner()) = text.map(|t| t.0);
    }

    /// Times out reads and forgets requestors that stopped reading.
    fn expire(&mut self) {
        let now = Instant::now();
        let late = |r: &Reading| r.deadline <= now;
        if self.reading.as_ref().is_some_and(late) {
            let r = self.reading.take().expect("checked");
            r.done
                .send(Err(ClipboardError::Timeout(r.timeout.as_millis() as u64)));
        }
        for r in std::mem::take(&mut self.queued) {
            if late(&r) {
                r.done
                    .send(Err(ClipboardError::Timeout(r.timeout.as_millis() as u64)));
            } else {
                self.queued.push_back(r);
            }
        }
        let stale: Vec<Window> = (self.sending.iter())
            .filter(|s| s.stale_at <= now)
            .map(|s| s.requestor)
            .collect();
        self.sending.retain(|s| s.stale_at > now);
        for w in stale {
            self.forget_requestor(w);
        }
    }

    /// Starts the next queued read when none runs.
    fn start_read(&mut self) -> XResult<()> {
        while self.reading.is_none() {
            let Some(mut r) = self.queued.pop_front() else {
                return Ok(());
            };
            if let Some(text) = self.our_text() {
                r.done.send(Ok(Some(text.to_string())));
                continue;
            }
            let owner = self.clipboard_owner()?;
            if owner == NONE {
                r.done.send(Ok(None));
                continue;
            }
            self.convert(self.atoms.UTF8_STRING)?;
            r.stage = Stage::Converting(self.atoms.UTF8_STRING);
            self.reading = Some(r);
        }
        Ok(())
    }

    fn convert(&self, target: Atom) -> XResult<()> {
        // CurrentTime: there is no user event behind a programmatic read to take a time from.
        self.conn
            .convert_selection(
                self.window,
                self.atoms.CLIPBOARD,
                target,
                self.atoms.STRIPECAST_SELECTION,
                CURRENT_TIME,
            )
            .map_err(lost)?;
        Ok(())
    }

    fn finish(&mut self, result: super::ReadResult) {
        if let Some(r) = self.reading.take() {
            r.done.send(result);
        }
    }

    fn too_large(&self, at_least: usize) -> ClipboardError {
        ClipboardError::ReadTooLarge {
            at_least,
            max_bytes: self.max_bytes,
        }
    }

    fn encoding(&self, kind: Atom) -> Encoding {
        if kind == u32::from(AtomEnum::STRING) {
            Encoding::Latin1
        } else {
            Encoding::Utf8
        }
    }

    fn event(&mut self, event: Event) -> XResult<()> {
        match event {
            Event::SelectionRequest(e) => self.request(e),
            Event::SelectionClear(e) => {
                self.clear(e);
                Ok(())
            }
            Event::SelectionNotify(e) => self.notified(e),
            Event::PropertyNotify(e) => self.property(e),
            _ => Ok(()),
        }
    }

    fn clear(&mut self, e: SelectionClearEvent) {
        if e.owner == self.window && e.selection == self.atoms.CLIPBOARD {
            // Another client took it: our text is no longer the clipboard's. INCR transfers
            // already under way finish with the text they started with.
            self.set_owned(None);
        }
    }

    fn request(&mut self, e: SelectionRequestEvent) -> XResult<()> {
        let text = self.our_text();
        let ours = e.owner == self.window
            && e.selection == self.atoms.CLIPBOARD
            && self
                .owned_since
                .is_some_and(|t| e.time == CURRENT_TIME || e.time >= t);
        // An obsolete client names no property: the target is the property then.
        let property = if e.property == NONE {
            e.target
        } else {
            e.property
        };
        let target = match e.target {
            t if t == self.atoms.TARGETS => Target::Targets,
            t if t == self.atoms.TIMESTAMP => Target::Timestamp,
            t if t == self.atoms.UTF8_STRING => Target::Utf8,
            t if t == u32::from(AtomEnum::STRING) => Target::Latin1,
            t if t == self.atoms.TEXT => Target::Text,
            _ => Target::Other,
        };
        let answer = match (&text, ours) {
            (Some(text), true) => plan::answer(target, text),
            _ => Answer::Refuse,
        };
        let replied = match answer {
            Answer::Refuse => NONE,
            Answer::Targets => {
                let atoms: Vec<Atom> = plan::OFFERED
                    .iter()
                    .map(|t| match t {
                        Target::Targets => self.atoms.TARGETS,
                        Target::Timestamp => self.atoms.TIMESTAMP,
                        Target::Utf8 => self.atoms.UTF8_STRING,
                        Target::Latin1 => AtomEnum::STRING.into(),
                        Target::Text => self.atoms.TEXT,
                        Target::Other => NONE,
                    })
                    .collect();
                self.conn
                    .change_property32(
                        PropMode::REPLACE,
                        e.requestor,
                        property,
                        AtomEnum::ATOM,
                        &atoms,
                    )
                    .map_err(lost)?;
                property
            }
            Answer::Timestamp => {
                let since = self.owned_since.unwrap_or(CURRENT_TIME);
                self.conn
                    .change_property32(
                        PropMode::REPLACE,
                        e.requestor,
                        property,
                        AtomEnum::INTEGER,
                        &[since],
                    )
                    .map_err(lost)?;
                property
            }
            Answer::Utf8(bytes) => self.send_text(&e, property, self.atoms.UTF8_STRING, bytes)?,
            Answer::Latin1(bytes) => {
                self.send_text(&e, property, AtomEnum::STRING.into(), bytes)?
            }
        };
        let notify = SelectionNotifyEvent {
            response_type: SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: e.time,
            requestor: e.requestor,
            selection: e.selection,
            target: e.target,
            property: replied,
        };
        self.conn
            .send_event(false, e.requestor, EventMask::NO_EVENT, notify)
            .map_err(lost)?;
        Ok(())
    }

    /// Puts `bytes` in the requestor's property, or starts an INCR transfer when they exceed
    /// one chunk. Returns the property.
    fn send_text(
        &mut self,
        e: &SelectionRequestEvent,
        property: Atom,
        kind: Atom,
        bytes: Vec<u8>,
    ) -> XResult<Atom> {
        let Some(chunks) = plan::incr_plan(bytes.len(), self.chunk) else {
            self.conn
                .change_property8(PropMode::REPLACE, e.requestor, property, kind, &bytes)
                .map_err(lost)?;
            return Ok(property);
        };
        // The requestor deletes the property to ask for each chunk: we watch its properties.
        self.conn
            .change_window_attributes(
                e.requestor,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
            )
            .map_err(lost)?;
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.conn
            .change_property32(
                PropMode::REPLACE,
                e.requestor,
                property,
                self.atoms.INCR,
                &[len],
            )
            .map_err(lost)?;
        self.sending
            .retain(|s| (s.requestor, s.property) != (e.requestor, property));
        self.sending.push(Sending {
            requestor: e.requestor,
            property,
            kind,
            data: bytes.into(),
            chunks: chunks.into(),
            ended: false,
            stale_at: Instant::now() + STALE,
        });
        Ok(property)
    }

    /// Stops watching a requestor's window once no transfer to it is left.
    fn forget_requestor(&self, requestor: Window) {
        if !self.sending.iter().any(|s| s.requestor == requestor) {
            // The window may be gone already: nothing to undo then.
            let _ = self.conn.change_window_attributes(
                requestor,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::NO_EVENT),
            );
        }
    }

    fn property(&mut self, e: PropertyNotifyEvent) -> XResult<()> {
        if e.window == self.window {
            if e.atom == self.atoms.STRIPECAST_TIME && e.state == Property::NEW_VALUE {
                return self.stamped(e.time);
            }
            if e.atom == self.atoms.STRIPECAST_SELECTION && e.state == Property::NEW_VALUE {
                return self.incr_chunk();
            }
            return Ok(());
        }
        if e.state != Property::DELETE {
            return Ok(());
        }
        // A requestor took a chunk of an INCR transfer of ours: the next one, or the end.
        let Some(i) =
            (self.sending.iter()).position(|s| (s.requestor, s.property) == (e.window, e.atom))
        else {
            return Ok(());
        };
        let s = &mut self.sending[i];
        s.stale_at = Instant::now() + STALE;
        if s.ended {
            let s = self.sending.swap_remove(i);
            self.forget_requestor(s.requestor);
            return Ok(());
        }
        let range = s.chunks.pop_front().unwrap_or(0..0);
        s.ended = range.is_empty();
        let (requestor, property, kind, data) = (s.requestor, s.property, s.kind, s.data.clone());
        self.conn
            .change_property8(PropMode::REPLACE, requestor, property, kind, &data[range])
            .map_err(lost)?;
        Ok(())
    }

    /// The server's time arrived: become the owner with the latest text written.
    fn stamped(&mut self, time: Timestamp) -> XResult<()> {
        self.stamp_asked = false;
        let writes = std::mem::take(&mut self.writes);
        let Some((text, _)) = writes.last() else {
            return Ok(());
        };
        let text = text.clone();
        self.conn
            .set_selection_owner(self.window, self.atoms.CLIPBOARD, time)
            .map_err(lost)?;
        let owner = self.clipboard_owner()?;
        let result = if owner == self.window {
            self.set_owned(Some((text, time)));
            Ok(())
        } else {
            Err(ClipboardError::NotOwner)
        };
        for (_, done) in writes {
            let _ = done.send(result.clone());
        }
        Ok(())
    }

    fn notified(&mut self, e: SelectionNotifyEvent) -> XResult<()> {
        let Some(Reading {
            stage: Stage::Converting(target),
            ..
        }) = &self.reading
        else {
            return Ok(());
        };
        let target = *target;
        if e.requestor != self.window || e.selection != self.atoms.CLIPBOARD || e.target != target {
            return Ok(());
        }
        if e.property == NONE {
            // Refused: older owners may know only STRING; after that, there is no text.
            if target == self.atoms.UTF8_STRING {
                self.convert(AtomEnum::STRING.into())?;
                if let Some(r) = &mut self.reading {
                    r.stage = Stage::Converting(AtomEnum::STRING.into());
                }
            } else {
                self.finish(Ok(None));
            }
            return Ok(());
        }
        let reply = self
            .conn
            .get_property(
                true,
                self.window,
                e.property,
                AtomEnum::ANY,
                0,
                plan::words_for(self.max_bytes),
            )
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        if reply.type_ == self.atoms.INCR {
            // Deleting the INCR property (done by the read) asks the owner for the first chunk.
            if let Some(r) = &mut self.reading {
                r.stage = Stage::Incremental {
                    received: Received::new(self.max_bytes),
                    kind: NONE,
                };
            }
            return Ok(());
        }
        let mut received = Received::new(self.max_bytes);
        match received.push(&reply.value, reply.bytes_after as usize) {
            Ok(()) => {
                let text = plan::decode(&received.bytes, self.encoding(reply.type_));
                self.finish(Ok(Some(text)));
            }
            Err(big) => {
                // Left there by a GetProperty that did not read it all.
                self.conn
                    .delete_property(self.window, e.property)
                    .map_err(lost)?;
                let error = self.too_large(big.at_least);
                self.finish(Err(error));
            }
        }
        Ok(())
    }

    /// A chunk of an INCR transfer to us arrived in our property.
    fn incr_chunk(&mut self) -> XResult<()> {
        let Some(Reading {
            stage: Stage::Incremental { received, .. },
            ..
        }) = &self.reading
        else {
            return Ok(());
        };
        let room = received.room();
        let reply = self
            .conn
            .get_property(
                true,
                self.window,
                self.atoms.STRIPECAST_SELECTION,
                AtomEnum::ANY,
                0,
                plan::words_for(room),
            )
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        let Some(Reading {
            stage: Stage::Incremental { received, kind },
            ..
        }) = &mut self.reading
        else {
            return Ok(());
        };
        if reply.value.is_empty() && reply.bytes_after == 0 {
            let (bytes, kind) = (std::mem::take(&mut received.bytes), *kind);
            let text = plan::decode(&bytes, self.encoding(kind));
            self.finish(Ok(Some(text)));
            return Ok(());
        }
        *kind = reply.type_;
        if let Err(big) = received.push(&reply.value, reply.bytes_after as usize) {
            // Not deleting the property leaves the owner waiting: the transfer ends here.
            self.conn
                .delete_property(self.window, self.atoms.STRIPECAST_SELECTION)
                .map_err(lost)?;
            let error = self.too_large(big.at_least);
            self.finish(Err(error));
        }
        Ok(())
    }

    /// Gives the selection up if we still own it, fails whatever waits, and closes the window.
    fn shutdown(mut self, why: ClipboardError) {
        if let Some(since) = self.owned_since {
            let owner = self
                .conn
                .get_selection_owner(self.atoms.CLIPBOARD)
                .ok()
                .and_then(|c| c.reply().ok());
            if owner.is_some_and(|o| o.owner == self.window) {
                let _ = self
                    .conn
                    .set_selection_owner(NONE, self.atoms.CLIPBOARD, since);
            }
        }
        self.set_owned(None);
        for (_, done) in self.writes.drain(..) {
            let _ = done.send(Err(why.clone()));
        }
        if let Some(r) = self.reading.take() {
            r.done.send(Err(why.clone()));
        }
        for r in self.queued.drain(..) {
            r.done.send(Err(why.clone()));
        }
        for requestor in (self.sending.drain(..))
            .map(|s| s.requestor)
            .collect::<Vec<_>>()
        {
            self.forget_requestor(requestor);
        }
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
        // Commands that raced with the end: fail them rather than leave them unanswered.
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Write { done, .. } => {
                    let _ = done.send(Err(why.clone()));
                }
                Command::Read { done, .. } => done.send(Err(why.clone())),
                Command::Close => {}
            }
        }
    }
}
