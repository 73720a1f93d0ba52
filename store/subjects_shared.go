package store

// contributions is what a Redis-backed instance needs of a subject table (redis_contrib.go): it keeps two
// tables of each kind, its own contributions (the events it counted) and its view (every instance's
// contributions merged, as last read, plus its own events since), and moves records between them and Redis as
// record bodies: the bytes of a snapshot's record, which are Redis's.
type contributions interface {
	// appendRecord appends key's record body to b, and reports whether the table holds key.
	appendRecord(key uint64, b []byte) ([]byte, bool)
	// appendWrite is appendRecord for the writer of an own table, whose records' synced is when their hash's
	// TTL was last pushed: expire reports whether that was longer than every ago (ms) or never, and if so
	// stamps it now.
	appendWrite(key uint64, b []byte, now, every int64) (body []byte, expire, ok bool)
	// syncedAt is when key's record was last rebuilt (unix ms); 0 when it never was or is not held.
	syncedAt(key uint64) int64
	// rebuild makes key's record the merge of bodies (each of bodyLen bytes), stamped synced at now (ms); with
	// no body, an empty record: nothing is known of key, as of now.
	rebuild(key uint64, bodies [][]byte, now int64)
	// exportMerged reads the merge of bodies as export reads a record: its counters into counts, its facts
	// spelled out into out (user records only). The table is not changed.
	exportMerged(bodies [][]byte, at int64, counts *[NumMetrics]Counts, out *UserFacts)
	// bodyLen is the length of the kind's record body.
	bodyLen() int
}

func (t *kindTable[F, PF]) appendRecord(key uint64, b []byte) ([]byte, bool) {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.get(key); r != nil {
		return r.appendBody(b), true
	}
	return b, false
}

func (t *kindTable[F, PF]) appendWrite(key uint64, b []byte, now, every int64) ([]byte, bool, bool) {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.get(key)
	if r == nil {
		return b, false, false
	}
	expire := r.synced == 0 || now-r.synced >= every
	if expire {
		r.synced = now
	}
	return r.appendBody(b), expire, true
}

func (t *kindTable[F, PF]) syncedAt(key uint64) int64 {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.get(key); r != nil {
		return r.synced
	}
	return 0
}

func (t *kindTable[F, PF]) rebuild(key uint64, bodies [][]byte, now int64) {
	// Merged outside the lock: a busy subject's decisions wait only for the copy.
	sc := t.mergeScratch()
	defer t.merging.Put(sc)
	m := &sc[0]
	m.mergeBodies(bodies, &sc[1])
	m.key, m.synced = key, now
	sh := t.shard(key)
	sh.mu.Lock()
	p, ok := sh.find(key)
	if !ok {
		p = sh.insert(key)
	}
	*sh.rec(p) = *m
	sh.mu.Unlock()
}

// mergeScratch returns two records to merge contributions in. They are pooled: a decision that reads its
// subjects from Redis merges each, and two records a subject were most of the bytes it allocated.
func (t *kindTable[F, PF]) mergeScratch() *[2]subjectRecord[F, PF] {
	if sc, ok := t.merging.Get().(*[2]subjectRecord[F, PF]); ok {
		return sc
	}
	return new([2]subjectRecord[F, PF])
}

func (t *kindTable[F, PF]) exportMerged(bodies [][]byte, at int64, counts *[NumMetrics]Counts, out *UserFacts) {
	*counts, *out = [NumMetrics]Counts{}, UserFacts{}
	if len(bodies) == 0 {
		return
	}
	sc := t.mergeScratch()
	defer t.merging.Put(sc)
	m := &sc[0]
	m.mergeBodies(bodies, &sc[1])
	ix := bucketIndices(at)
	m.read(&ix, counts)
	if f := PF(&m.facts); f.held() {
		if u, ok := any(f).(*userFacts); ok {
			u.export(at, out)
		}
	}
}

// mergeBodies makes r the merge of the record bodies (whatever r held before), decoding each in o.
func (r *subjectRecord[F, PF]) mergeBodies(bodies [][]byte, o *subjectRecord[F, PF]) {
	*r = subjectRecord[F, PF]{}
	if len(bodies) == 0 {
		return
	}
	r.decodeBody(bodies[0])
	for _, b := range bodies[1:] {
		*o = subjectRecord[F, PF]{}
		o.decodeBody(b)
		r.merge(o)
	}
}

func (t *kindTable[F, PF]) bodyLen() int {
	var r subjectRecord[F, PF]
	return len(r.appendBody(nil))
}

// bodyActiveUntil is when (unix seconds) the subject of a record body last counted an event: the end of its
// rings' newest Minute bucket.
func bodyActiveUntil(body []byte) int64 {
	var v velocityRecord
	v.decodeBody(body[:ringBodyLen])
	return (int64(v.head[Minute]) + 1) * 10
}
