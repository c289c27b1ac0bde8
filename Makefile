# Convenience targets; the scripts are what the README and CI run.
.PHONY: setup build demo test bench clean
export GOTOOLCHAIN := go1.26.10

setup:
	./scripts/setup.sh

build:
	go build -o bin/steward ./cmd/steward

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

bench:
	./scripts/bench-p6.sh

clean:
	rm -rf bin/steward steward-state demo-data
