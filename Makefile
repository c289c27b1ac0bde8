# Convenience targets; the scripts are what the README and CI run.
.PHONY: setup build demo test lint bench fuzz clean
export GOTOOLCHAIN := go1.26.10

setup:
	./scripts/setup.sh

build:
	go build -o bin/steward ./cmd/steward

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

# The static checks of test.sh alone: gofmt, go vet and staticcheck (built
# into ./bin by scripts/setup.sh).
lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*' -not -path './.cache/*' -not -path './third_party/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):"; echo "$$out"; exit 1; fi
	go vet ./...
	@test -x bin/staticcheck || { echo "bin/staticcheck is missing: run ./scripts/setup.sh"; exit 1; }
	./bin/staticcheck ./...

# P1-P3 (backup, sizes as arguments: MiB FILES DBMB OBJECTS), P5 (drill
# hashing against sha256sum) and P6 (a 1,000,000-object certificate).
bench:
	./scripts/bench-backup.sh
	go test ./drills -run '^$$' -bench P5 -benchtime 3x
	./scripts/bench-p6.sh

# Every fuzz target for SECONDS each (default 10); FUZZTIME=1000000x for a
# long run (docs/reliability.md).
fuzz:
	./scripts/fuzz.sh $(SECONDS)

clean:
	rm -rf bin/steward steward-state demo-data
