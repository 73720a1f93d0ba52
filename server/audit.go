package server

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Auditor appends one JSON line per administrative act (who, from where, when, what, on which target) to a
// writer: every change, and the reads that take personal or operational data out of riskd (user exports, rule
// validations and backtests over the decision log, profiles). These are rare, so each line is written
// synchronously under a lock: an audit record must not be lost to a crash right after the act it records.
type Auditor struct {
	mu sync.Mutex
	w  io.Writer
}

// NewAuditor returns an Auditor writing to w; a nil w records nothing.
func NewAuditor(w io.Writer) *Auditor { return &Auditor{w: w} }

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time   string `json:"time"`
	Who    string `json:"who"`              // the API key's name
	Source string `json:"source,omitempty"` // the caller's address (see caller.source)
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Record writes r, stamping the time. Errors writing the log are returned: most callers count them (the act has
// happened), an erasure records first and is not made when the record cannot be written.
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
