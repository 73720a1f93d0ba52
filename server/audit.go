package server

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Auditor appends one JSON line per administrative change (who, when, what, on which target) to a writer.
// Admin changes are rare, so each line is written synchronously under a lock: an audit record must not be
// lost to a crash right after the change it records.
type Auditor struct {
	mu sync.Mutex
	w  io.Writer
}

// NewAuditor returns an Auditor writing to w; a nil w records nothing.
func NewAuditor(w io.Writer) *Auditor { return &Auditor{w: w} }

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time   string `json:"time"`
	Who    string `json:"who"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Record writes r, stamping the time. Errors writing the log are returned so the caller can count them; the
// change itself has already happened.
func (a *Auditor) Record(r AuditRecord) error {
	if a == nil || a.w == nil {
		return nil
	}
	r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = a.w.Write(b)
	return err
}
