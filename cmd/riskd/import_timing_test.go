package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testenv"
)

// historyIPs are addresses the MaxMind test databases place (Milton US, Changchun CN, Linköping SE, Boxford GB,
// and a few they do not know), so that generated history teaches places as well as devices.
var historyIPs = []string{"216.160.83.56", "175.16.199.1", "89.160.20.112", "2.125.160.216", "81.2.69.142",
	"67.43.156.1", "1.2.3.4", "2001:480::1"}

// writeHistory writes rows of legacy login history in format (csv or ndjson): users of about five logins each
// over the last 150 days on two devices apiece, one row in ten a failure, times alternately RFC 3339 and unix
// seconds, and an extra column as legacy exports have. The same arguments write the same bytes.
func writeHistory(w io.Writer, format string, rows int, now time.Time) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if format == formatCSV {
		bw.WriteString("user,time,ip,user_agent,device_id,success,legacy_id\n")
	}
	users := max(rows/5, 1)
	var b []byte
	for i := range rows {
		u := (i * 7919) % users // a user's rows are spread through the file, as in an export sorted by time
		at := now.Add(-time.Duration((rows-i)%(150*24*60)) * time.Minute)
		ip := historyIPs[(u+i%3)%len(historyIPs)]
		device := fmt.Sprintf("dev-%d-%d", u, i%2)
		success := i%10 != 0
		var ts string
		if i%2 == 0 {
			ts = at.UTC().Format(time.RFC3339)
		} else {
			ts = strconv.FormatInt(at.Unix(), 10)
		}
		b = b[:0]
		if format == formatCSV {
			b = fmt.Appendf(b, "user-%d,%s,%s,Mozilla/5.0 (Windows NT 10.0; Win64; x64),%s,%t,L%d\n", u, ts, ip, device, success, i)
		} else {
			b = fmt.Appendf(b, `{"user":"user-%d","time":%q,"ip":%q,"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","device_id":%q,"success":%t}`+"\n",
				u, ts, ip, device, success)
		}
		bw.Write(b)
	}
	return bw.Flush()
}

// BenchmarkImport imports generated history into a fresh --data-dir (bbolt) per op, with the test GeoIP
// databases, and reports rows/s. IMPORT_ROWS sets the rows (default 100 000; docs/OPERATIONS.md quotes 1 000 000:
// IMPORT_ROWS=1000000 go test ./cmd/riskd -run '^$' -bench Import -benchtime 1x).
func BenchmarkImport(b *testing.B) {
	rows := 100_000
	if s := os.Getenv("IMPORT_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	city, asn, anon := testenv.GeoIP(b)
	now := time.Now()
	for _, format := range []string{formatCSV, formatNDJSON} {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "history."+format)
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := writeHistory(f, format, rows, now); err != nil {
				b.Fatal(err)
			}
			f.Close()
			var total, secs float64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				var out, errb testenv.Output
				err := runImport(context.Background(), []string{"--json", "--log-level", "warn",
					"--data-dir", filepath.Join(dir, fmt.Sprintf("state-%d", i)),
					"--geoip-city", city, "--geoip-asn", asn, "--geoip-anonymous", anon, path}, nil, &out, &errb)
				if err != nil {
					b.Fatalf("%v\n%s%s", err, out.String(), errb.String())
				}
				var rep importReport
				if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Read != rows {
					b.Fatalf("report %s: %v", out.String(), err)
				}
				total += float64(rep.Read)
				secs += rep.Seconds
			}
			b.ReportMetric(total/secs, "rows/s")
		})
	}
}
