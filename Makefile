# Keel's build. `make run` boots the default example; `make test` runs every test.
GO        ?= go
KEEL_CACHE ?= $(CURDIR)/build/cache
export KEEL_CACHE

STATIC      := -trimpath -buildvcs=false -ldflags '-s -w'
CTRD_TAGS   := no_btrfs no_devmapper no_zfs no_cri no_tracing no_systemd grpcnotrace
RUNC_TAGS   := seccomp netgo osusergo urfave_cli_no_docs
# The names of the multi-call system binary (./multicall, built as
# build/svcd) besides svcd, as in the image: hard links, re-made after
# every build because go build replaces the file.
MULTICALL   := svcctl containerd containerd-shim-runc-v2
EXAMPLE     ?= examples/minimal.yml
IMAGES      := build/images
TEST_TIMEOUT ?= 55m

.PHONY: all deps binaries keel image run test unit vet fuzz bench bench-build repro repro-kubernetes test-kubernetes soak clean FORCE

all: binaries keel

deps:
	@scripts/ensure-deps.sh

# The in-VM binaries, static. `go build` decides what is stale. svcd,
# svcctl, containerd and its shim are one multi-call binary (./multicall).
binaries: deps
	@mkdir -p build
	CGO_ENABLED=0 $(GO) build $(STATIC) -o build/init ./init
	CGO_ENABLED=0 $(GO) build $(STATIC) -tags '$(CTRD_TAGS)' -o build/svcd ./multicall
	for n in $(MULTICALL); do ln -f build/svcd build/$$n; done
	CGO_ENABLED=1 $(GO) build -trimpath -buildvcs=false -tags '$(RUNC_TAGS)' \
		-ldflags '-s -w -extldflags -static' -o build/runc github.com/opencontainers/runc

keel: bin/keel
bin/keel: FORCE
	$(GO) build -trimpath -buildvcs=auto -o bin/keel ./packer

# Builds the example (and, on first use, the packages and kernel it names).
image: deps keel
	bin/keel build -format kernel+initrd -dir $(IMAGES) -name minimal $(EXAMPLE)

run: image
	bin/keel run qemu $(IMAGES)/minimal

# Modules of their own under pkgs/ (a dependency tree Keel's go.mod does
# not carry): ./... of the main module leaves them out.
PKG_MODULES := pkgs/cadvisor

vet:
	$(GO) vet ./...
	for m in $(PKG_MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }

# Unit tests, root-only host tests (real runc and containerd) and the QEMU
# end-to-end tests. KEEL_E2E=1 turns a missing prerequisite into a failure
# instead of a skip.
# The kernel package comes first: module-index and kernel tests read the
# Debian package it downloads into the cache.
# The in-VM side (svcd, init, metadata: concurrent supervision, reaping,
# fetches) runs under the race detector, about a minute on two cores;
# everything else runs once without it.
RACE_PKGS := ./svcd/... ./init/... ./metadata/...
test: deps binaries keel vet
	bin/keel pkg build pkgs/kernel >/dev/null
	KEEL_BUILD_DIR=$(CURDIR)/build KEEL_E2E=1 $(GO) test -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)
	KEEL_BUILD_DIR=$(CURDIR)/build KEEL_E2E=1 $(GO) test -timeout $(TEST_TIMEOUT) \
		$$($(GO) list ./... | grep -Ev '^github.com/keel-os/keel/(svcd|init|metadata)(/|$$)')
	for m in $(PKG_MODULES); do (cd $$m && $(GO) test ./...) || exit 1; done

# arm64 built on this machine and booted under QEMU's emulation: the
# minimal example with the supervision checks, as kernel+initrd and as a
# raw-efi disk under AAVMF. Emulated arm64 is several times slower than
# the amd64 boot (about a minute and a half each), and the first run
# cross-builds every package, so it is not part of make test.
test-arm64: deps keel
	bin/keel pkg build --arch arm64 pkgs/kernel >/dev/null
	KEEL_BUILD_DIR=$(CURDIR)/build KEEL_E2E=1 KEEL_ARM64=1 $(GO) test -run 'TestARM64' -v -timeout 40m ./qemu-test

# A two-node Kubernetes cluster of Keel systems under QEMU (qemu-test's
# TestKubernetesCluster: examples/kubernetes-control-plane.yml, 3 GiB and
# 2 CPUs, and examples/kubernetes-worker.yml, 1.5 GiB, on one segment),
# and the images reaching a node's containerd without a registry
# (TestKubernetesImages, 2 GiB). kubectl for the host is built from
# pkgs/kubernetes' module into build/kubectl. Not part of make test: the
# first run compiles Kubernetes, etcd and CoreDNS (half an hour of a shared
# two-core machine), and the cluster takes many minutes under TCG; see
# docs/kubernetes.md.
test-kubernetes: deps binaries keel
	bin/keel pkg build pkgs/kubernetes-images pkgs/kubernetes-worker-images >/dev/null
	cd pkgs/kubernetes && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(CURDIR)/build/kubectl k8s.io/kubernetes/cmd/kubectl
	KEEL_KUBERNETES=1 $(GO) test -run TestCNIOutAndHostPort -v ./pkgs/iptables
	KEEL_BUILD_DIR=$(CURDIR)/build KEEL_E2E=1 KEEL_KUBERNETES=1 $(GO) test -run 'TestKubernetesImages|TestKubernetesCluster' -v -timeout 120m ./qemu-test

# Boot times per architecture next to each one's bare-kernel floor (a
# kernel whose PID 1 only prints and powers off), BENCH_RUNS boots each.
bench-arch: deps keel
	$(GO) test -run '^$$' -bench 'BootFloor|BootMinimal' -benchtime $(BENCH_RUNS)x -timeout 60m ./qemu-test

# Fuzz targets over hostile input (spec decoding, layer extraction, cpio,
# keel.json, metadata JSON). `make test` runs their seed corpora only: a
# time-bounded fuzz run can end with a spurious "context deadline exceeded"
# from the go command itself, which must not turn a test run red.
FUZZTIME ?= 2m
FUZZ := ./packer/spec:FuzzParse ./packer/rootfs:FuzzWrite ./packer/output:FuzzCPIO \
	./internal/bundle:FuzzParse ./metadata:FuzzExpandJSON
fuzz:
	@set -e; for t in $(FUZZ); do \
		echo "fuzz $${t%%:*} $${t##*:} for $(FUZZTIME)"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) $${t%%:*} 2>&1) || \
		{ echo "$$out"; exit 1; }; \
	done

unit:
	$(GO) test -short ./...

clean:
	rm -rf build bin

# One report (build/bench/report.md and .json): build times and sizes, boot
# phases next to the bare-kernel floor measured in the same run, memory after
# boot, the smallest -m that runs every service, restart latency.
FLOOR ?= ../shared/tools/boot-floor/boot-floor
BENCH_RUNS ?= 3
BENCH_DIR := $(CURDIR)/build/bench
# The floor boots with as many CPUs as keel run qemu gives a guest by
# default (run.DefaultCPUs: this host's, at most 2), so the two compare.
BENCH_CPUS := $(shell n=$$(nproc); [ $$n -gt 2 ] && n=2; echo $$n)
bench: deps binaries keel image
	@mkdir -p $(BENCH_DIR)
	@accel=$$(bin/keel run accel $(IMAGES)/minimal) && cpu=$$(bin/keel run accel -q --cpu $(IMAGES)/minimal) || exit 1; \
	echo "== bare-kernel floor ($(BENCH_RUNS) boots, accelerator $$accel, -cpu $$cpu, $(BENCH_CPUS) CPUs)"; \
	if [ -x $(FLOOR) ]; then ACCEL=$$accel QEMU_ARGS="-m 512 -cpu $$cpu -smp $(BENCH_CPUS)" $(FLOOR) $(IMAGES)/minimal-kernel $(BENCH_RUNS) | tee $(BENCH_DIR)/floor.txt; else echo "no $(FLOOR): floor not measured" | tee $(BENCH_DIR)/floor.txt; fi
	@echo "== builds of a LinuxKit-shaped spec"
	$(GO) test -run '^$$' -bench BuildLinuxKitShaped -benchtime 1x -timeout 30m ./packer/build > $(BENCH_DIR)/build.txt; \
		s=$$?; cat $(BENCH_DIR)/build.txt; exit $$s
	@echo "== restart latency (real containerd)"
	$(GO) test -run '^$$' -bench RestartLatency -benchtime 20x -timeout 10m ./svcd/ > $(BENCH_DIR)/restart.txt; \
		s=$$?; cat $(BENCH_DIR)/restart.txt; exit $$s
	@echo "== boots"
	@accel=$$(bin/keel run accel $(IMAGES)/minimal) && cpu=$$(bin/keel run accel -q --cpu $(IMAGES)/minimal) || exit 1; \
	[ -x $(FLOOR) ] && floor=$(abspath $(FLOOR)); \
	KEEL_BENCH_DIR=$(BENCH_DIR) KEEL_BENCH_RUNS=$(BENCH_RUNS) KEEL_E2E=1 KEEL_BUILD_DIR=$(CURDIR)/build \
	KEEL_BENCH_FLOOR=$$floor KEEL_BENCH_FLOOR_KERNEL=$(abspath $(IMAGES))/minimal-kernel \
	KEEL_BENCH_FLOOR_ACCEL=$$accel KEEL_BENCH_FLOOR_QEMU_ARGS="-m 512 -cpu $$cpu -smp $(BENCH_CPUS)" \
		$(GO) test -run '^TestBenchReport$$' -v -timeout 60m ./qemu-test

# Cold, warm and one-service-changed builds of a LinuxKit-shaped spec, with
# the initrd's size per container (packer/build/testdata/linuxkit-shaped.yml).
bench-build: deps
	$(GO) test -run '^$$' -bench BuildLinuxKitShaped -benchtime 1x -v -timeout 30m ./packer/build

# Every package in pkgs/ built into two empty image caches: the tag, both
# digests (equal, or the test fails) and the stored size of each. make test
# does this for pkgs/hello and pkgs/ca-certificates only.
repro: deps
	KEEL_REPRO_ALL=1 $(GO) test -run '^TestReproducible$$' -v -timeout 60m ./packer/pkgbuild

# Kubernetes' packages (pkgs/kubernetes/*, the pause image and the images
# package that carries them) built into two empty image caches, wanting one
# digest from both, as make repro does for pkgs/*. Not part of make test:
# the first run compiles Kubernetes, etcd and CoreDNS (many CPU minutes;
# see docs/kubernetes.md).
KUBERNETES_PKGS = kubernetes/etcd kubernetes/kube-apiserver kubernetes/kube-controller-manager \
	kubernetes/kube-scheduler kubernetes/kube-proxy kubernetes/coredns kubernetes/node pause kubernetes-images
repro-kubernetes: deps
	KEEL_REPRO_PKGS="$(KUBERNETES_PKGS)" $(GO) test -run '^TestReproducible$$' -v -timeout 180m ./packer/pkgbuild

# Fault injection at length: kill -9 a service, its shim, containerd and
# svcd $(SOAK_ROUNDS) times each inside a booted system (make test does one
# round), checking recovery, zombies and PID 1 after every kill.
SOAK_ROUNDS ?= 50
soak: deps binaries keel
	bin/keel pkg build pkgs/kernel >/dev/null
	KEEL_BUILD_DIR=$(CURDIR)/build KEEL_E2E=1 KEEL_CHAOS_ROUNDS=$(SOAK_ROUNDS) $(GO) test -run 'TestChaos' -v -timeout 120m ./qemu-test
