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
//
// It also keeps the newest records in memory (a ring of recentAudit), for the console's Audit page
// (GET /v1/audit): what this instance did lately, without access to the log file.
type Auditor struct {
	mu     sync.Mutex
	w      io.Writer
	recent []AuditRecord // a ring: next is where the following record goes
	next   int
}

// recentAudit is how many records an Auditor keeps in memory.
const recentAudit = 500

// NewAuditor returns an Auditor writing to w; a nil w writes no log (the recent records are still kept).
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
	if a == nil {
		return nil
	}
	r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) < recentAudit {
		a.recent = append(a.recent, r)
	} else {
		a.recent[a.next] = r
	}
	a.next = (a.next + 1) % recentAudit
	if a.w == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = a.w.Write(append(b, '\n'))
	return err
}

// Recent returns up to limit of the newest records, newest first.
func (a *Auditor) Recent(limit int) []AuditRecord {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(limit, len(a.recent))
	out := make([]AuditRecord, 0, n)
	for i := range n {
		out = append(out, a.recent[(a.next-1-i+len(a.recent))%len(a.recent)]) // next-1 is the newest
	}
	return out
}
