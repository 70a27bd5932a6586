# helm-harborha build, tools and tests.
#   make build    bin/harborha and bin/harborha-post-render (scripts/build.sh)
#   make install  build, then install this checkout as a Helm plugin
#   make unit     the fast tests (go test -short): nothing is built first
#   make test     every test, every tool built, HARBORHA_STRICT=1: the README's test command
#   make ci       what .ci/run runs: vet, then test
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN        := $(CURDIR)/bin
SHARED     ?= $(abspath $(CURDIR)/../shared)
GO         ?= go

# The tools the tests run, built from Go modules (the versions are here so
# that the aggregate targets below can name every one).
HELM3_VERSION := v3.22.0
HELM3         := $(BIN)/helm
# Helm 4 keeps the name "helm" (plugins and helmfile call it by that name).
HELM4_VERSION := v4.3.1
HELM4         := $(BIN)/helm4/helm
HELMFILE      := $(BIN)/helmfile
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE         := $(BIN)/kustomize
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT         := $(BIN)/actionlint
KUBE_VERSION := v1.37.1
KUBE_ASSETS  := $(BIN)/k8s
KUBE_TOOLS   := $(CURDIR)/tools/kube
KWOK_VERSION := v0.8.0
KUBE_CMDS    := kube-apiserver kube-controller-manager kube-scheduler
ENVEXPAND    := $(KUBE_ASSETS)/envexpand

# Tests read third-party inputs from ../shared and the tools from ./bin.
# HARBORHA_STRICT turns "input missing" into a failure instead of a skip.
export HARBORHA_SHARED ?= $(SHARED)
export HARBORHA_CHARTS ?= $(SHARED)/charts
export HARBORHA_HELM3  ?= $(HELM3)
export HARBORHA_HELM4  ?= $(HELM4)
export HARBORHA_HELMFILE ?= $(HELMFILE)
export HARBORHA_KUSTOMIZE ?= $(KUSTOMIZE)
export HARBORHA_KUBE_ASSETS ?= $(KUBE_ASSETS)
export HARBORHA_ENVEXPAND ?= $(ENVEXPAND)
TEST_ENV := HARBORHA_STRICT=1

.PHONY: build
build: $(BIN)/harborha $(BIN)/harborha-post-render

SOURCES := $(shell find cmd internal overlays -type f 2>/dev/null) go.mod go.sum plugin.yaml scripts/build.sh

# Both binaries come from one go build with the flags every build of them
# uses (scripts/build.sh: make dist and the install hook run it too; its
# comment says why each flag). The post-renderer is Helm's on every render:
# it links neither Helm's SDK nor client-go (see docs/performance.md).
$(BIN)/harborha: $(SOURCES)
	GO='$(GO)' sh scripts/build.sh '$(BIN)'

# Written by the same build; built here only when it is missing.
$(BIN)/harborha-post-render: $(BIN)/harborha
	@test -f $@ || { set -x; GO='$(GO)' sh scripts/build.sh '$(BIN)'; }

# ---------------------------------------------------------------------------
# The test targets. Each aggregate names what it stands for, so that `make
# test` has one prerequisite line.

# tools: every binary the tests run, built from Go modules (there is no
# other way to get them on these machines): Helm 3 and 4, helmfile,
# kustomize, actionlint, the API server and the simulated cluster's parts.
.PHONY: tools
tools: $(HELM3) $(HELM4) $(HELMFILE) $(KUSTOMIZE) $(ACTIONLINT) $(ENVEXPAND) kube-assets sim-assets

# test-packages: the Debian packages the tests run, installed only when
# missing: PostgreSQL and Redis (bootstrap), busybox and shellcheck (the
# install hook).
.PHONY: test-packages
test-packages: test-services dist-test-tools

# test: every test, strict. Fuzz first, so that the whole suite's results
# close the log. A new input is minimised for 5 s, not the default minute,
# which left the fuzzers minimising instead of fuzzing (golang/go#48820).
.PHONY: test
test: build tools test-packages dist lint-workflows
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzPostRender -fuzztime 60s -fuzzminimizetime 5s ./internal/postrender
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzLint -fuzztime 30s -fuzzminimizetime 5s ./internal/lint
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzSplit -fuzztime 15s -fuzzminimizetime 5s ./internal/manifest
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzUnmarshalMap -fuzztime 20s -fuzzminimizetime 5s ./internal/manifest
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzTrimmed -fuzztime 20s -fuzzminimizetime 5s ./internal/harbor
	$(TEST_ENV) $(GO) test -count=1 ./...

# The install tests (internal/release) compare a dist of their own, signed
# with a throwaway key, with this one (HARBORHA_DIST), and run the hook with
# busybox's sh, tar and wget as on alpine. make test builds the host's and
# Windows' archives (the .exe layout): each other platform is a cold
# cross-build of every dependency, minutes of CI; the release workflow
# builds all five.
TEST_DIST_PLATFORMS := $(shell $(GO) env GOOS)/$(shell $(GO) env GOARCH),windows/amd64
test: DIST_PLATFORMS = $(TEST_DIST_PLATFORMS)
test: export HARBORHA_DIST = $(DIST_DIR)
test: export HARBORHA_DIST_PLATFORMS = $(TEST_DIST_PLATFORMS)

# unit: the fast tests while you work: go test -short, nothing built first.
# Under -short the tests that need the API server, the simulated cluster,
# the release files or bin/ (which may be stale) skip (testutil.SkipShort);
# the rest run, the goldens with the helm of HARBORHA_HELM3 or bin/helm,
# and skip when an input is missing (HARBORHA_STRICT is not set). Not CI:
# a skipped test is not a passed one (make test, make ci).
.PHONY: unit
unit:
	$(GO) test -short ./...

# ci: what .ci/run runs on a clean clone.
.PHONY: ci
ci: vet test

$(HELM3):
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM3_VERSION)

$(HELM4):
	GOBIN=$(dir $(HELM4)) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION)

# helmfile's go.mod has replace lines, so it builds from its own module.
$(HELMFILE): tools/helmfile/go.mod tools/helmfile/go.sum
	cd tools/helmfile && $(GO) build -trimpath -ldflags '-s -w' -o $@ github.com/helmfile/helmfile

# kustomize: the real CLI the export tests build their output with
# (kustomize build --enable-helm --helm-command, as Argo CD runs it). Its
# go.mod has no replace lines, so go install builds it.
$(KUSTOMIZE):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: update-golden
update-golden: build tools
	$(GO) test ./... -update

.PHONY: bench
bench: build tools
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20x ./internal/postrender | tee $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench BenchmarkWrapper -benchtime 20x ./internal/helmrun | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench BenchmarkStaticBuild -benchtime 20x ./internal/release | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench BenchmarkStaticStart -benchtime 300x ./internal/release | tee -a $(BIN)/bench.txt

# install builds the binary and installs this checkout as a Helm plugin
# (a symlink: later `make build` runs update the installed plugin), with the
# helm on PATH; only when there is none does it build Helm 3 into ./bin.
# The tools the tests need are built by `make test`, not here.
HELM ?= $(shell command -v helm 2>/dev/null || echo $(HELM3))
.PHONY: install
install: build $(filter $(HELM3),$(HELM))
	@$(HELM) plugin uninstall harborha >/dev/null 2>&1 || true
	$(HELM) plugin install $(CURDIR)
	@# Helm 4 also needs the post-renderer plugin; never give it to Helm 3,
	@# which cannot parse its format and would then load no plugin at all.
	@if $(HELM) version --short | grep -q '^v4'; then \
		$(HELM) plugin uninstall harborha-post-renderer >/dev/null 2>&1 || true; \
		$(HELM) plugin install $(CURDIR)/plugins/harborha-post-renderer; \
	fi

.PHONY: fmt
fmt:
	gofmt -s -w cmd internal overlays

.PHONY: vet
vet:
	@test -z "$$(gofmt -s -l cmd internal overlays)" || { gofmt -s -l cmd internal overlays; echo "gofmt: files above need formatting (make fmt)"; exit 1; }
	$(GO) vet ./...

.PHONY: clean
clean:
	rm -rf $(BIN) $(DIST_DIR)

# ---------------------------------------------------------------------------
# kube-assets: a real kube-apiserver and etcd for the end-to-end tests
# (internal/kubetest starts them through controller-runtime's envtest), and
# the parts of the simulated cluster.
# Built from Go modules by the separate module in tools/kube (k8s.io/kubernetes
# plus its staging replaces; etcd from the same build list). About 5-7 minutes
# the first time on 2 cores, a relink (seconds) with a warm Go build cache, and
# nothing when bin/k8s is newer than tools/kube/go.{mod,sum}.
# The version ldflags matter: without them the server says v0.0.0-master and
# Helm refuses charts whose kubeVersion constraint it then fails.
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=%))) \
	-X k8s.io/component-base/version.gitTreeState=clean

# sim-assets: the simulated cluster (internal/kubetest's StartCluster) adds
# the controller-manager and scheduler of the same release, from the same
# module with the same ldflags, and kwok (its go.mod has no replace lines).
# Only the tests need them (`make tools`, not `make install`). Measured on
# 2 cores with kube-apiserver's packages already cached: controller-manager
# 3 minutes, then scheduler 20 s, kwok 2.6 minutes; a relink of each (4-7 s)
# with a warm build cache; nothing when up to date.

.PHONY: kube-assets sim-assets
kube-assets: $(KUBE_ASSETS)/kube-apiserver $(KUBE_ASSETS)/etcd
sim-assets: kube-assets $(KUBE_ASSETS)/kube-controller-manager $(KUBE_ASSETS)/kube-scheduler $(KUBE_ASSETS)/kwok

$(addprefix $(KUBE_ASSETS)/,$(KUBE_CMDS)): $(KUBE_ASSETS)/%: $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum
	cd $(KUBE_TOOLS) && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$*

$(KUBE_ASSETS)/kwok:
	GOBIN=$(KUBE_ASSETS) $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

$(KUBE_ASSETS)/etcd: $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum
	cd $(KUBE_TOOLS) && $(GO) build -trimpath -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3

# envexpand: the kubelet's own environment expansion (k8s.io/kubernetes
# third_party/forked/golang/expansion, which is in no staging module), as a
# small program of ours in the tools module: the post-render equivalence test
# (internal/postrender) computes every container's effective environment
# with it. HARBORHA_ENVEXPAND points the tests at it.

$(ENVEXPAND): $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum $(KUBE_TOOLS)/envexpand/main.go
	cd $(KUBE_TOOLS) && $(GO) build -trimpath -ldflags '-s -w' -o $@ ./envexpand

# bench-discover: discovery against the real API server, with the request
# count per run (docs/performance.md).
.PHONY: bench-discover
bench-discover: build kube-assets
	$(GO) test -run '^$$' -bench Discover -count 5 -timeout 30m ./internal/discover | tee $(BIN)/bench-discover.txt

# bench-doctor: doctor's checks against the real API server, with the
# request count per run (docs/performance.md).
.PHONY: bench-doctor
bench-doctor: build kube-assets
	$(GO) test -run '^$$' -bench Diagnose -count 5 -timeout 30m ./internal/doctor | tee $(BIN)/bench-doctor.txt

# test-services: the PostgreSQL and Redis server binaries the bootstrap tests
# run (Debian's postgresql and redis-server packages, installed with apt-get
# only when missing). Nothing is started here: each test starts its own
# throwaway server on loopback, on a free port, in a temporary directory.
.PHONY: test-services
test-services:
	./scripts/test-services.sh

# ---------------------------------------------------------------------------
# dist: the release files of plugin.yaml's version under $(DIST_DIR), what
# .github/workflows/release.yaml uploads on a tag: one archive per platform
# (harborha_<version>_<os>_<arch>.tar.gz: bin/harborha and
# bin/harborha-post-render, built by scripts/build.sh as make build builds
# them, plugin.yaml, the install hook, the Helm 4 post-renderer plugin),
# the Helm 4 plugin archives
# harborha-<version>.tgz and harborha-post-renderer-<version>.tgz, and
# checksums.txt. Reproducible: the same commit and Go give the same bytes
# (entries dated at the commit). HARBORHA_SIGN_KEY (an OpenPGP secret key
# file; HARBORHA_SIGN_PASSPHRASE_FILE its passphrase) adds the .prov files
# Helm 4 verifies; without it the Helm 4 archives are unsigned.
DIST_DIR          ?= $(CURDIR)/dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: dist
dist:
	rm -rf '$(DIST_DIR)'
	$(GO) run ./internal/release/dist -root $(CURDIR) -out '$(DIST_DIR)' -mtime $(SOURCE_DATE_EPOCH) -go $(GO) -platforms '$(DIST_PLATFORMS)'

# DIST_PLATFORMS (os/arch, comma-separated) builds a subset; empty is every
# release platform (make test sets the host's and Windows').
DIST_PLATFORMS ?=

# dist-test-tools: busybox and shellcheck from Debian packages, only when missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: dist-test-tools
dist-test-tools:
	@command -v busybox >/dev/null && command -v shellcheck >/dev/null || { \
		echo "dist-test-tools: installing busybox and shellcheck (Debian packages)" >&2; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends busybox shellcheck >/dev/null; }

# lint-workflows: actionlint (built from its Go module) on .github/workflows.
.PHONY: lint-workflows
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT) -no-color .github/workflows/*.yaml

$(ACTIONLINT):
	GOBIN=$(BIN) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
