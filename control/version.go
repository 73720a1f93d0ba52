package control

import (
	"context"
	"errors"
	"time"
)

// KeepVersions is how many versions of a document a Store keeps; older ones are dropped as new ones come.
const KeepVersions = 100

// Document names.
const (
	Rules      = "rules"
	Shadow     = "shadow"
	Lists      = "lists"
	Exceptions = "exceptions"
)

// Actions: how a version came to be.
const (
	ActionPut      = "put"      // written through the API
	ActionDelete   = "delete"   // emptied through the API (the shadow set removed)
	ActionRollback = "rollback" // the files of an earlier version, again
	ActionFile     = "file"     // read from a file riskd was started with (--rules, --lists), or the built-in set
)

// File is one file of a version: a rule file, or the JSON of the lists or exceptions.
type File struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// Version is one state of a document and how it came to be.
type Version struct {
	Document   string    `json:"document"`
	Number     uint64    `json:"version"`
	Author     string    `json:"author"`
	Time       time.Time `json:"time"`
	Note       string    `json:"note,omitempty"`
	Action     string    `json:"action"`
	RollbackOf uint64    `json:"rollback_of,omitempty"`
	// Label is what the content calls itself: the rule set's version, or a count of lists.
	Label string `json:"label,omitempty"`
	// Seeds are the digests of the files last imported into the document, by file, carried from version to
	// version: a file whose digest is unchanged is never imported again, so a reload cannot revert an API change.
	Seeds map[string]string `json:"seeds,omitempty"`
	Files []File            `json:"files"`
}

// Errors of the control plane, for the API to map to statuses.
var (
	ErrNoVersion   = errors.New("no such version")
	ErrNoDocument  = errors.New("no such document")
	ErrConflict    = errors.New("another change was committed first")
	ErrUnavailable = errors.New("the control store is unavailable")
	ErrRefused     = errors.New("the version does not pass its document's gate")
	// ErrBusy, wrapped in a Prepare's error, says the version could not be prepared for now (the rule gate was
	// busy), not that it is bad: the next poll tries it again.
	ErrBusy = errors.New("busy; the version is tried again")
)

// Store keeps the versions of documents. Every method may be called concurrently.
type Store interface {
	// Heads returns the newest version number of each document (0 when it has none), in the order asked.
	Heads(ctx context.Context, docs []string) ([]uint64, error)
	// Get returns version n of doc, or ErrNoVersion.
	Get(ctx context.Context, doc string, n uint64) (Version, error)
	// Append stores v as version prev+1 of v.Document if the newest is still prev, else returns ErrConflict.
	// It drops the version that falls out of the newest KeepVersions.
	Append(ctx context.Context, prev uint64, v Version) error
	Close() error
}
