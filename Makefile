# riskd: `make run` serves on the built-in defaults, `make test` runs the test suite.
GO       ?= go
# go.mod names the toolchain with the standard library's latest security fixes; auto lets go fetch it as a module.
export GOTOOLCHAIN := auto
GEO      := var/geoip
GEOFLAGS := --geoip-city $(GEO)/city.mmdb --geoip-asn $(GEO)/asn.mmdb --geoip-anonymous $(GEO)/anonymous.mmdb
FUZZTIME ?= 20s

.PHONY: run build test bench soak eval lint fuzz clean

## run: serve on 127.0.0.1:8080 with the built-in rules and a generated demo GeoIP database
run: $(GEO)/city.mmdb
	$(GO) run ./cmd/riskd serve $(GEOFLAGS) $(ARGS)

## build: build bin/riskd
build:
	$(GO) build -o bin/riskd ./cmd/riskd

# The demo database is generated, not downloaded: a handful of networks that make the curl examples work.
$(GEO)/city.mmdb:
	$(GO) run ./bench/geogen -out $(GEO)

## test: vet, the allocation guards (which race builds skip), then the whole suite under the race detector
test:
	$(GO) vet ./...
	$(GO) test -count=1 -run 'Alloc' ./...
	$(GO) test -race -count=1 -timeout 30m ./...

## bench: the Go benchmarks, then bare vs riskd over HTTP with a spike and an overload (~3-4 min; CSV/plots in var/bench)
bench:
	$(GO) test -short -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/load -compare -out var/bench

## soak: riskd at SOAKRATE for SOAKTIME with half the events spraying never-repeating ids, then the same on a
## redis-server that is killed a third of the way in and restarted two thirds in (CSV/plots in var/bench)
# SOAKFLAGS keep riskd's tables small, so that they fill within seconds and the rest of the run shows whether
# memory stays flat once they are full.
SOAKTIME  ?= 2m
SOAKRATE  ?= 4000
SOAKFLAGS ?= --velocity-keys 65536 --max-profiles 65536
soak:
	$(GO) run ./bench/load -start riskd -profile soak -rate $(SOAKRATE) -duration $(SOAKTIME) -riskd-flags "$(SOAKFLAGS)" -out var/bench
	$(GO) run ./bench/load -start riskd -profile soak -redis-outage -rate $(SOAKRATE) -duration $(SOAKTIME) -riskd-flags "$(SOAKFLAGS)" -out var/bench

## eval: replay a synthetic labelled population and attacks through the built-in rules; allow/step_up/deny per class and the goals (ARGS=-explain, -rules FILE, -users N, -json, -out FILE.csv)
EVALGEO := var/geoip-eval
eval: $(EVALGEO)/city.mmdb
	$(GO) run ./bench/eval -geoip $(EVALGEO) $(ARGS)

# The evaluation's database: the demo set and 300,000 synthetic networks (a few seconds; generated, not downloaded).
$(EVALGEO)/city.mmdb:
	$(GO) run ./bench/geogen -out $(EVALGEO) -networks 300000

## lint: formatting, vet, staticcheck, and govulncheck against a pinned snapshot of the Go vulnerability database
# The database is built from the golang.org/x/vulndb module's OSV files (reachable through the module proxy), so the
# check needs no other network; VULNDB=https://vuln.go.dev checks against the live database where it is reachable.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_DIR     := var/vulndb-$(VULNDB_VERSION)
VULNDB         ?= file://$(abspath $(VULNDB_DIR))
lint: $(VULNDB_DIR)/index/db.json
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) tool govulncheck -db $(VULNDB) ./...

$(VULNDB_DIR)/index/db.json:
	$(GO) mod download golang.org/x/vulndb@$(VULNDB_VERSION)
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -out $(VULNDB_DIR) \
		-vulns "$$($(GO) list -m -f '{{.Dir}}' golang.org/x/vulndb@$(VULNDB_VERSION))/data/osv"

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	$(GO) test ./server -run '^$$' -fuzz '^FuzzDecodeDecide$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzDecodeOutcome$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzDecodeKratosHook$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzSplitPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzIsLoopbackHost$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsonenc -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run '^$$' -fuzz '^FuzzFastPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run '^$$' -fuzz '^FuzzCompileCost$$' -fuzztime $(FUZZTIME)
	$(GO) test ./signals -run '^$$' -fuzz '^FuzzVerifyWebhook$$' -fuzztime $(FUZZTIME)
	$(GO) test ./features/geo -run '^$$' -fuzz '^FuzzDamagedCity$$' -fuzztime $(FUZZTIME)
	$(GO) test ./store -run '^$$' -fuzz '^FuzzDecodeProfile$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/riskd -run '^$$' -fuzz '^FuzzImportRow$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzParseRequestStart$$' -fuzztime $(FUZZTIME)
	$(GO) test ./features/useragent -run '^$$' -fuzz '^FuzzLookup$$' -fuzztime $(FUZZTIME)
	$(GO) test ./lists -run '^$$' -fuzz '^FuzzParseFile$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin var
