package signals

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateFile is where, with a data dir, the transmitter keeps its streams (configuration, token, status,
// removed subjects), the SETs and webhook bodies waiting for delivery, and the key of its subject hashes. It
// holds raw user ids inside queued SETs, and tokens: it is written 0600, and rewritten at once by an erasure.
const stateFile = "ssf.json"

// flushEvery is how often changes are written: a crash loses at most this much of the queues' changes.
const flushEvery = time.Second

type persistedState struct {
	SubjectKey string            `json:"subject_key"`
	Streams    []persistedStream `json:"streams"`
	Webhooks   []persistedHook   `json:"webhooks,omitempty"`
}

type persistedStream struct {
	Config  StreamConfig   `json:"config"`
	Status  string         `json:"status"`
	Reason  string         `json:"reason,omitempty"`
	Removed []uint64       `json:"removed_subjects,omitempty"` // keyed hashes
	Queue   []persistedSET `json:"queue,omitempty"`
}

type persistedHook struct {
	URL   string         `json:"url"`
	Queue []persistedSET `json:"queue,omitempty"`
}

type persistedSET struct {
	ID       string `json:"id"`
	Token    string `json:"token"`
	Subject  string `json:"subject,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
}

func toPersisted(q []queued) []persistedSET {
	out := make([]persistedSET, len(q))
	for i, x := range q {
		out[i] = persistedSET{ID: x.jti, Token: x.token, Subject: x.subject, Attempts: x.attempts}
	}
	return out
}

func fromPersisted(p []persistedSET, max int) []queued {
	out := make([]queued, 0, min(len(p), max))
	for _, x := range p[:min(len(p), max)] {
		out = append(out, queued{jti: x.ID, token: x.Token, subject: x.Subject, attempts: x.Attempts})
	}
	return out
}

// load reads the state file, if any: the subject hash key, the streams and the webhooks' queues. Streams'
// push deliveries start with them.
func (t *Transmitter) load() error {
	path := filepath.Join(t.cfg.DataDir, stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.dirty.Store(true) // write the new subject key
		return nil
	}
	if err != nil {
		return fmt.Errorf("signals: %w", err)
	}
	var st persistedState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("signals: %s: %w", path, err)
	}
	key, err := hex.DecodeString(st.SubjectKey)
	if err != nil || len(key) != 16 {
		return fmt.Errorf("signals: %s: bad subject_key", path)
	}
	t.hashK0, t.hashK1 = binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ps := range st.Streams {
		cfg := ps.Config
		if err := t.validate(&cfg); err != nil {
			t.log.Warn("signals: a saved stream is no longer valid; dropped", "stream_id", cfg.StreamID, "err", err)
			continue
		}
		s := t.newStream(cfg, ps.Status)
		s.reason = ps.Reason
		for _, k := range ps.Removed {
			s.removed[k] = struct{}{}
		}
		s.queue = fromPersisted(ps.Queue, t.cfg.StreamQueueSize)
		t.addStreamLocked(s)
	}
	for _, ph := range st.Webhooks {
		for _, h := range t.webhooks {
			if h.cfg.URL == ph.URL {
				h.queue = fromPersisted(ph.Queue, t.cfg.StreamQueueSize)
			}
		}
	}
	return nil
}

// save writes the state file atomically (a temporary file, fsynced, renamed over the old one).
func (t *Transmitter) save() error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.dirty.Store(false)
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:8], t.hashK0)
	binary.LittleEndian.PutUint64(key[8:], t.hashK1)
	st := persistedState{SubjectKey: hex.EncodeToString(key[:]), Streams: []persistedStream{}}
	for _, s := range t.streamList() {
		s.mu.Lock()
		ps := persistedStream{Config: s.cfg, Status: s.status, Reason: s.reason, Queue: toPersisted(s.queue)}
		for k := range s.removed {
			ps.Removed = append(ps.Removed, k)
		}
		s.mu.Unlock()
		st.Streams = append(st.Streams, ps)
	}
	for _, h := range t.webhooks {
		h.mu.Lock()
		st.Webhooks = append(st.Webhooks, persistedHook{URL: h.cfg.URL, Queue: toPersisted(h.queue)})
		h.mu.Unlock()
	}
	data, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(t.cfg.DataDir, stateFile), data)
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ssf-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// flush writes the state every flushEvery when it changed, until Close.
func (t *Transmitter) flush() {
	defer t.wg.Done()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			if t.dirty.Load() {
				if err := t.save(); err != nil {
					t.dirty.Store(true)
					t.log.Error("signals: writing the state file", "err", err)
				}
			}
		}
	}
}
