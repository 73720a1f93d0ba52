package control

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltFile is the control store's file in the data directory, apart from the state's own (state.db): the two
// are written at different rates, and one may be restored from a backup without the other.
const BoltFile = "control.db"

// Bolt is a Store in a bbolt file: one bucket per document, holding its versions under their numbers
// (big-endian) and its newest number under "head". It serves one riskd process (bbolt locks the file).
type Bolt struct {
	db *bolt.DB
}

var headKey = []byte("head")

// OpenBolt opens (creating) the control store in dir.
func OpenBolt(dir string) (*Bolt, error) {
	db, err := bolt.Open(filepath.Join(dir, BoltFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("control store: %w", err)
	}
	return &Bolt{db: db}, nil
}

func versionKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func bucketHead(b *bolt.Bucket) uint64 {
	if b == nil {
		return 0
	}
	if h := b.Get(headKey); len(h) == 8 {
		return binary.BigEndian.Uint64(h)
	}
	return 0
}

// Heads implements Store.
func (s *Bolt) Heads(_ context.Context, docs []string) ([]uint64, error) {
	out := make([]uint64, len(docs))
	err := s.db.View(func(tx *bolt.Tx) error {
		for i, d := range docs {
			out[i] = bucketHead(tx.Bucket([]byte(d)))
		}
		return nil
	})
	return out, err
}

// Get implements Store.
func (s *Bolt) Get(_ context.Context, doc string, n uint64) (Version, error) {
	var v Version
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(doc))
		if b == nil {
			return ErrNoVersion
		}
		raw := b.Get(versionKey(n))
		if raw == nil {
			return ErrNoVersion
		}
		return json.Unmarshal(raw, &v)
	})
	return v, err
}

// Append implements Store.
func (s *Bolt) Append(_ context.Context, prev uint64, v Version) error {
	v.Number = prev + 1
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(v.Document))
		if err != nil {
			return err
		}
		if bucketHead(b) != prev {
			return ErrConflict
		}
		if err := b.Put(versionKey(v.Number), raw); err != nil {
			return err
		}
		if v.Number > KeepVersions {
			if err := b.Delete(versionKey(v.Number - KeepVersions)); err != nil {
				return err
			}
		}
		return b.Put(headKey, versionKey(v.Number))
	})
}

// Close implements Store.
func (s *Bolt) Close() error { return s.db.Close() }
