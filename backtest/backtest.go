package backtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// Options tune a run.
type Options struct {
	Workers int // parallel workers; 0 = GOMAXPROCS
	Samples int // flipped decisions to show; 0 = 20
}

// blockSize is how much of the log a worker takes at a time: large enough to amortise the hand-off and the
// allocation, small enough to spread a short log over the workers. A line longer than a block is still read
// whole.
const blockSize = 1 << 20

// readBlocks reads r in blocks that end at a line end and sends them to the workers; each block is a fresh
// slice the worker owns.
func readBlocks(r io.Reader, out chan<- []byte) error {
	var carry []byte
	for {
		block := make([]byte, len(carry), max(blockSize, 2*len(carry)))
		copy(block, carry)
		n, err := io.ReadFull(r, block[len(carry):cap(block)])
		block = block[:len(carry)+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if len(block) > 0 {
				out <- block
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("backtest: reading the log: %w", err)
		}
		end := bytes.LastIndexByte(block, '\n') + 1
		carry = block[end:]
		if end > 0 {
			out <- block[:end]
		}
	}
}

// Run replays the decision log read from r through candidate and returns the comparison.
func Run(r io.Reader, candidate *rules.Set, opt Options) (*Report, error) {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Samples <= 0 {
		opt.Samples = 20
	}
	start := time.Now()
	dec := newVectorDecoder()
	chunks := make(chan []byte, opt.Workers*2)
	parts := make([]*partial, opt.Workers)
	var wg sync.WaitGroup
	for w := range opt.Workers {
		parts[w] = newPartial(candidate, opt.Samples)
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w].work(chunks, dec, candidate)
		}()
	}

	readErr := readBlocks(r, chunks)
	close(chunks)
	wg.Wait()

	b := newReport(candidate)
	for _, p := range parts {
		b.merge(p)
	}
	b.finish(opt.Samples)
	rep := b.Report
	rep.Duration = time.Since(start)
	if readErr != nil {
		return rep, readErr
	}
	if rep.Events == 0 && rep.Invalid > 0 {
		return rep, errors.New("backtest: no line of the input is a decision record")
	}
	return rep, nil
}

// partial is one worker's share of a report, merged at the end so workers never share state.
type partial struct {
	counts
	outcomes []outcome // one per decision, for joining labels
	labels   map[uint64]bool
	flips    []Flip
	samples  int
}

// outcome is what a label needs of a decision.
type outcome struct {
	id                  uint64
	recorded, candidate rules.Action
}

func newPartial(candidate *rules.Set, samples int) *partial {
	return &partial{counts: newCounts(candidate), labels: map[uint64]bool{}, samples: samples}
}

func (p *partial) work(blocks <-chan []byte, dec *vectorDecoder, candidate *rules.Set) {
	var parser fastjson.Parser
	eval := rules.NewEvaluator()
	var res rules.Result
	for block := range blocks {
		for len(block) > 0 {
			line := block
			if i := bytes.IndexByte(block, '\n'); i >= 0 {
				line, block = block[:i], block[i+1:]
			} else {
				block = nil
			}
			if len(bytes.TrimSpace(line)) > 0 {
				p.line(&parser, line, dec, candidate, eval, &res)
			}
		}
	}
}

func (p *partial) line(parser *fastjson.Parser, line []byte, dec *vectorDecoder, candidate *rules.Set, eval *rules.Evaluator, res *rules.Result) {
	v, err := parser.ParseBytes(line)
	if err != nil {
		p.Invalid++
		return
	}
	id, err := strconv.ParseUint(string(v.GetStringBytes("evaluation_id")), 16, 64)
	if err != nil {
		p.Invalid++
		return
	}
	if label := v.GetStringBytes("label"); label != nil {
		p.labels[id] = string(label) == "fraud"
		return
	}
	if v.GetBool("fallback") {
		p.Fallbacks++ // the rules never saw these: nothing to compare
		return
	}
	recorded, ok := rules.ParseAction(string(v.GetStringBytes("decision")))
	fo := v.GetObject("features")
	if !ok || fo == nil {
		p.Invalid++
		return
	}
	dec.decode(fo, &eval.Vector)
	// The logged list_mask numbers lists the live set's way; rebuild it from the names the candidate's way.
	eval.Vector.ListMask = 0
	for _, name := range v.GetArray("lists") {
		if i := candidate.ListIndex(string(name.GetStringBytes())); i >= 0 {
			eval.Vector.ListMask |= 1 << i
		}
	}
	t, ok := features.ParseEventType(eval.Vector.Event)
	if !ok {
		p.Invalid++
		return
	}
	in := rules.Input{Type: t, Tenant: eval.Vector.Tenant}
	if candidate.HasExpiry() {
		// Expiry goes by event time: a rule that expired since still applies to the old traffic it decided.
		if at, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes("time"))); err == nil {
			in.Time = at.UnixNano()
		}
	}
	candidate.Evaluate(eval, in, res)
	mfa, _ := features.ParseMFAPreference(eval.Vector.MFAPreference)
	cand, _ := engine.MFAPolicy(t, mfa, res.Action)

	p.Events++
	p.Recorded[recorded]++
	p.Candidate[cand]++
	p.byType[t].add(recorded, cand)
	p.tenant(eval.Vector.Tenant).add(recorded, cand)
	for _, fired := range v.GetArray("fired") {
		if i, ok := p.ruleIndex[string(fired.GetStringBytes())]; ok {
			p.rules[i].Recorded++
		} else {
			p.retired[string(fired.GetStringBytes())]++
		}
	}
	for _, i := range res.Fired {
		p.rules[i].Candidate++
	}
	if recorded != cand {
		p.Flipped++
		if len(p.flips) < p.samples {
			recordedFired := []string{}
			for _, f := range v.GetArray("fired") {
				recordedFired = append(recordedFired, string(f.GetStringBytes()))
			}
			p.flips = append(p.flips, Flip{EvaluationID: fmt.Sprintf("%016x", id), Time: string(v.GetStringBytes("time")),
				Event: t.String(), Tenant: strings.Clone(eval.Vector.Tenant), Recorded: recorded.String(),
				Candidate: cand.String(), Fired: firedIDs(candidate, res.Fired),
				RecordedScore: v.GetInt("score"), CandidateScore: res.Score, RecordedFired: recordedFired,
				Features: v.Get("features").MarshalTo(nil)})
		}
	}
	p.outcomes = append(p.outcomes, outcome{id: id, recorded: recorded, candidate: cand})
}
