# seatline — see README.md. `make demo` and `make test` do all set-up on a
# fresh Debian machine (they install ClickHouse through apt when missing).
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 15s
export GOFLAGS ?= -buildvcs=false

.PHONY: all build deps test test-ch26 unit lint fuzz demo bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

deps:
	@bash scripts/deps.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags chdb ./internal/ch26/...

# Short fuzz runs of the event decoder, the records stage and the PII scrubber (coverage-guided;
# longer: make fuzz FUZZTIME=5m).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./pkg/events
	$(GO) test -run='^$$' -fuzz='^FuzzRecords$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./internal/records
	$(GO) test -run='^$$' -fuzz='^FuzzScrub$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./internal/ingest

test: deps lint build
	$(GO) test -count=1 -timeout 40m $(PKGS)
	$(MAKE) --no-print-directory test-ch26
	$(MAKE) --no-print-directory fuzz

# The ClickHouse 26.x lane (internal/ch26): every query the project sends
# answers on chDB (26.x, in process) as on the 18.16 server.
test-ch26:
	lib=$$(bash scripts/deps.sh --chdb-lib) && CHDB_LIB_PATH=$$lib $(GO) test -tags chdb -count=1 -timeout 10m ./internal/ch26/...

demo: deps build
	$(GO) run ./internal/cmd/demo

bench: deps build
	$(GO) run ./internal/cmd/bench

clean:
	rm -rf $(BIN)
