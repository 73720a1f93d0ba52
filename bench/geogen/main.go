// Command geogen writes GeoIP2-schema databases for riskd: a small demo set
// by default, or a production-sized synthetic set with -networks N.
//
//	go run ./bench/geogen -out DIR [-networks N] [-seed S] [-build-epoch UNIX]
//
// It writes DIR/city.mmdb (GeoIP2-City), DIR/asn.mmdb (GeoLite2-ASN) and
// DIR/anonymous.mmdb (GeoIP2-Anonymous-IP). See README.md for what the demo
// set contains and what the synthetic set imitates.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Output file names, fixed so scripts and docs can rely on them.
const (
	cityFile      = "city.mmdb"
	asnFile       = "asn.mmdb"
	anonymousFile = "anonymous.mmdb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "geogen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("geogen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write "+cityFile+", "+asnFile+" and "+anonymousFile+" to (required)")
	networks := fs.Int("networks", 0, "number of synthetic networks to add to the demo set; 0 = demo set only")
	seed := fs.Uint64("seed", 1, "seed of the synthetic networks (same seed, same files)")
	epoch := fs.Int64("build-epoch", 0, "build time written in the metadata, Unix seconds; 0 = now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 || *networks < 0 {
		fs.Usage()
		return errors.New("usage: geogen -out DIR [-networks N] [-seed S] [-build-epoch UNIX]")
	}
	if *epoch == 0 {
		*epoch = time.Now().Unix()
	}
	start := time.Now()
	sizes, err := generate(*out, options{networks: *networks, seed: *seed, buildEpoch: *epoch, stdout: stdout})
	if err != nil {
		return err
	}
	for _, s := range sizes {
		fmt.Fprintf(stdout, "%-40s %10d networks %12d bytes\n", s.path, s.networks, s.bytes)
	}
	fmt.Fprintf(stdout, "done in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

type options struct {
	networks   int
	seed       uint64
	buildEpoch int64
	stdout     io.Writer // progress notes
}

type written struct {
	path     string
	networks int
	bytes    int64
}

// generate writes the three databases into dir. The synthetic networks go in
// first so the demo entries, inserted last, win where they overlap.
func generate(dir string, o options) ([]written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var d dataset
	if o.networks > 0 {
		d = synthesize(o.networks, o.seed)
		if d.v4Spills > 0 {
			fmt.Fprintf(o.stdout, "IPv4 space full: %d networks went to IPv6\n", d.v4Spills)
		}
	}
	d.append(demoDataset())

	files := []struct {
		name, dbType, description string
		languages                 []string
		entries                   []entry
	}{
		{cityFile, "GeoIP2-City", "GeoIP2 City database (synthetic, riskd bench/geogen)", languages, d.city},
		{asnFile, "GeoLite2-ASN", "GeoLite2 ASN database (synthetic, riskd bench/geogen)", []string{"en"}, d.asn},
		{anonymousFile, "GeoIP2-Anonymous-IP", "GeoIP2 Anonymous IP database (synthetic, riskd bench/geogen)", []string{"en"}, d.anonymous},
	}
	// Three independent trees: build them in parallel, the City one is the
	// long pole.
	results := make([]written, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			tree, err := mmdbwriter.New(mmdbwriter.Options{
				DatabaseType: f.dbType,
				Description:  map[string]string{"en": f.description},
				Languages:    f.languages,
				BuildEpoch:   o.buildEpoch,
				RecordSize:   28,
				// The demo set puts loopback and documentation ranges in on
				// purpose; the synthetic set stays out of them by itself.
				IncludeReservedNetworks: true,
				KeyGenerator:            &identityKeys{},
			})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", f.name, err)
				return
			}
			for _, e := range f.entries {
				if err := tree.Insert(ipNet(e.prefix), e.value); err != nil {
					errs[i] = fmt.Errorf("%s: inserting %s: %w", f.name, e.prefix, err)
					return
				}
			}
			path := filepath.Join(dir, f.name)
			n, err := writeAtomically(path, tree)
			if err != nil {
				errs[i] = err
				return
			}
			results[i] = written{path, len(f.entries), n}
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// demoDataset parses the demo tables; a bad network there is a programming
// error caught by the tests.
func demoDataset() dataset {
	var d dataset
	for _, e := range demoCity() {
		d.city = append(d.city, entry{netip.MustParsePrefix(e.network), cityRecord(e.place)})
	}
	for _, e := range demoASN() {
		d.asn = append(d.asn, entry{netip.MustParsePrefix(e.network), asnRecord(e.as)})
	}
	for _, e := range demoAnonymous() {
		d.anonymous = append(d.anonymous, entry{netip.MustParsePrefix(e.network), anonymousRecord(e.anon)})
	}
	return d
}

// identityKeys keys a record by the identity of its map. mmdbwriter's
// default serialises and SHA-256-hashes the record on every insert to find
// equal ones, which was half of the run time; here every record is built once
// and shared by all its networks, so equal records are the same map (the few
// equal demo records built twice only cost their bytes twice).
type identityKeys struct{ buf [8]byte }

func (k *identityKeys) Key(v mmdbtype.DataType) ([]byte, error) {
	m, ok := v.(mmdbtype.Map)
	if !ok {
		return nil, fmt.Errorf("record of type %T, want a map", v)
	}
	binary.LittleEndian.PutUint64(k.buf[:], uint64(reflect.ValueOf(m).Pointer()))
	return k.buf[:], nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// writeAtomically writes through a temporary file and a rename, so a riskd
// watching path for reloads never opens a half-written database.
func writeAtomically(path string, tree *mmdbwriter.Tree) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, err := tree.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return n, nil
}
