# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
.PHONY: run test test-fast setup lock

run:
	scripts/dev.sh run

test:
	scripts/dev.sh test

# Unit and storage tiers without the slow process-level tests.
test-fast:
	scripts/dev.sh test -m "not slow"

setup:
	scripts/dev.sh setup

lock:
	scripts/lock.sh
