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
# Each fuzzer runs a count of inputs (about its former seconds on 2 vCPU),
# not a duration: Go before 1.27 can fail a fuzzer with a bare "context
# deadline exceeded" when its -fuzztime deadline passes while a worker is
# busy (golang/go#75804; a .ci/run of FuzzUnmarshalMap saw it, minimising
# at the 20 s mark), and a count sets no deadline.
.PHONY: test
test: build tools test-packages real-assets dist lint-workflows test-real
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzPostRender -fuzztime 40000x -fuzzminimizetime 5s ./internal/postrender
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzLint -fuzztime 10000x -fuzzminimizetime 5s ./internal/lint
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzSplit -fuzztime 180000x -fuzzminimizetime 5s ./internal/manifest
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzUnmarshalMap -fuzztime 100000x -fuzzminimizetime 5s ./internal/manifest
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzTrimmed -fuzztime 100000x -fuzzminimizetime 5s ./internal/harbor
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz FuzzWire -fuzztime 200000x -fuzzminimizetime 5s ./internal/dbproxy
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

# ---- Harbor from source (issue 20) ----
# The real Harbor 2.15.1 (chart 1.19.1's appVersion), built from the source
# tarballs in $(HARBORHA_SHARED)/harbor-src (read there, never copied into the
# repository) into bin/harbor, and its images as directories bin/images/<name>
# (rootfs/ + config.json, IMAGES-CONTRACT) laid out as Harbor's
# make/photon/*/Dockerfile lay them out. scripts/harbor-build.sh holds the
# recipe. Each file below is a stamp: a second make does nothing, a changed
# tarball rebuilds what comes from it. Measured on 2 shared cores: see
# docs/harbor-from-source.md.
HARBOR_SRC ?= $(HARBORHA_SHARED)/harbor-src
HB         := $(BIN)/harbor
HB_SCRIPT  := scripts/harbor-build.sh
HB_RUN     := HARBOR_SRC=$(HARBOR_SRC) HB=$(HB) GO=$(GO) ./$(HB_SCRIPT)
HB_HARBOR_TGZ := $(HARBOR_SRC)/harbor-v2.15.1.tar.gz $(HARBOR_SRC)/pinniped-v0.37.0-pkce.tar.gz
HB_BINARIES := $(addprefix $(HB)/out/,harbor_core harbor_jobservice harbor_registryctl harbor_exporter registry scanner-trivy)

.PHONY: harbor-binaries
harbor-binaries: $(HB_BINARIES)

# A tarball that is not there: say where it was looked for.
$(HARBOR_SRC)/%.tar.gz:
	@echo "harbor: $@ is missing (the Harbor sources are read from HARBORHA_SHARED/harbor-src)" >&2; exit 1

# The unpacked tree with go.pinniped.dev replaced and the API server generated.
$(HB)/src/.harbor-prepared: $(HB_HARBOR_TGZ) $(HB_SCRIPT)
	$(HB_RUN) prepare
	touch $@

$(HB)/out/harbor_core: $(HB)/src/.harbor-prepared
	$(HB_RUN) core
$(HB)/out/harbor_jobservice: $(HB)/src/.harbor-prepared
	$(HB_RUN) jobservice
$(HB)/out/harbor_registryctl: $(HB)/src/.harbor-prepared
	$(HB_RUN) registryctl
$(HB)/out/harbor_exporter: $(HB)/src/.harbor-prepared
	$(HB_RUN) exporter
$(HB)/out/registry: $(HARBOR_SRC)/distribution-goharbor-release-2.8-ea065fef.tar.gz $(HB_SCRIPT)
	$(HB_RUN) registry
$(HB)/out/scanner-trivy: $(HARBOR_SRC)/harbor-scanner-trivy-v0.36.0.tar.gz $(HB_SCRIPT)
	$(HB_RUN) trivy-adapter

# The images: bin/images/<name>/{rootfs,config.json}, tagged with a content
# hash, and bin/images/harbor-values.yaml pointing chart 1.19.1's image values
# at them (imagePullPolicy IfNotPresent). nginx and busybox come from Debian
# packages (apt-get download, never installed); the portal is a placeholder
# page (docs/harbor-from-source.md says why).
HI_DIR        := $(BIN)/images
HI_SCRIPT     := scripts/harbor-images.sh
HI_RUN        := HB=$(HB) IMAGES=$(HI_DIR) ./$(HI_SCRIPT)
HI_NAMES      := harbor-core harbor-jobservice registry-photon harbor-registryctl harbor-exporter trivy-adapter-photon nginx-photon harbor-portal

.PHONY: harbor-images
harbor-images: $(HI_DIR)/harbor-values.yaml

$(HB)/debs/packages:
	$(HI_RUN) debs

$(HI_DIR)/%/config.json: $(HI_SCRIPT) $(HB)/debs/packages $(HB)/src/.harbor-prepared
	$(HI_RUN) $*
$(HI_DIR)/harbor-core/config.json: $(HB)/out/harbor_core
$(HI_DIR)/harbor-jobservice/config.json: $(HB)/out/harbor_jobservice
$(HI_DIR)/registry-photon/config.json: $(HB)/out/registry
$(HI_DIR)/harbor-registryctl/config.json: $(HB)/out/harbor_registryctl $(HB)/out/registry
$(HI_DIR)/harbor-exporter/config.json: $(HB)/out/harbor_exporter
$(HI_DIR)/trivy-adapter-photon/config.json: $(HB)/out/scanner-trivy

$(HI_DIR)/harbor-values.yaml: $(foreach i,$(HI_NAMES),$(HI_DIR)/$(i)/config.json)
	$(HI_RUN) values >$@.tmp && mv $@.tmp $@

# tools/harbor runs every image's binaries as processes on the chart's
# render (a push and a pull through nginx) under make test (real-assets
# builds them: the node imports them).

# ---- real node (issue 20) ----
# real-assets: what internal/kubetest's StartRealCluster runs besides the
# simulated cluster's control plane: the kubelet and kube-proxy of the same
# release (same module, same ldflags as kube-apiserver), containerd, runc,
# the CNI plugins, nft/iptables/conntrack from Debian's packages, unpacked
# into bin/node/root (apt-get download + dpkg-deb -x: nothing is installed
# on the host), and the node's images, built from directories into image
# tarballs (bin/images/<name>.tar, imported into containerd by the test).
# Cached and incremental: each part is rebuilt only when its inputs change.
#
# Image directories (bin/images/<name>/: rootfs/ + config.json, see
# tools/images/pack) are packed by tools/images' packer, whoever built them:
# ours below (pause, probe, postgres, redis, tools) and the Harbor images.
NODE_ROOT   := $(BIN)/node/root
DEB_CACHE   := $(BIN)/debs
IMAGES_DIR  := $(BIN)/images
IMAGE_TOOLS := $(CURDIR)/tools/images
PACK        := $(BIN)/pack
export HARBORHA_NODE_ROOT ?= $(NODE_ROOT)
export HARBORHA_IMAGES ?= $(IMAGES_DIR)

# The libraries are listed too (they are on Debian's base system, but a
# host without them must still work): LD_LIBRARY_PATH points into the tree.
NODE_DEBS := containerd runc containernetworking-plugins \
	nftables libnftables1 libnftnl11 libmnl0 libjansson4 libedit2 libxtables12 \
	iptables libip4tc2 libip6tc2 conntrack libnetfilter-conntrack3 libnfnetlink0 libseccomp2
# postgresql-15 and redis-server with the libraries a host may lack.
IMAGE_DEBS := busybox postgresql-15 postgresql-client-15 libpq5 redis-server redis-tools \
	liblzf1 libjemalloc2 libicu72 libxml2 libldap-2.5-0 libsasl2-2 libreadline8 tzdata
OUR_IMAGES := pause probe postgres redis tools coredns dbproxy
# CoreDNS: the cluster's DNS (Harbor's components find each other by
# Service name), with only the plugins the node's Corefile uses
# (tools/coredns: 2.3 min of CPU cold against 3.5 for CoreDNS's own main).
COREDNS := $(BIN)/coredns/coredns

# test-real: the tests on the real node, TestReal* in any package
# (kubetest's TestRealNode; helmrun's TestRealHarbor: Harbor from source
# through helm harborha install, then doctor's drills on the same release,
# Helm 3 and 4; doctor's TestRealACLDrift; helmrun's TestRealBudget),
# one package at a time (one real node per host), with -v so that the log
# holds their figures (start, digests, request counts). make test runs them
# here and skips them in its go test ./... (GOFLAGS -skip; private:
# test-real itself must not inherit it).
REAL_TESTS := ^TestReal
.PHONY: test-real
test-real: build tools real-assets
	$(TEST_ENV) $(GO) test -count=1 -p 1 -v -timeout 45m -run '$(REAL_TESTS)' ./...
test: private TEST_ENV += GOFLAGS=-skip=$(REAL_TESTS)

.PHONY: real-assets node-assets images
real-assets: kube-assets $(KUBE_ASSETS)/kube-controller-manager $(KUBE_ASSETS)/kube-scheduler node-assets images
node-assets: $(KUBE_ASSETS)/kubelet $(KUBE_ASSETS)/kube-proxy $(NODE_ROOT)/.unpacked
images: $(addprefix $(IMAGES_DIR)/,$(addsuffix /config.json,$(OUR_IMAGES))) harbor-images $(PACK)
	$(PACK) $(IMAGES_DIR)/*/

$(KUBE_ASSETS)/kubelet $(KUBE_ASSETS)/kube-proxy: $(KUBE_ASSETS)/%: $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum
	cd $(KUBE_TOOLS) && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$*

# A package list that changed re-unpacks; the same list does nothing.
$(BIN)/node/debs.list: real-node-force
	@mkdir -p $(@D); echo '$(NODE_DEBS)' | cmp -s - $@ || echo '$(NODE_DEBS)' >$@
$(BIN)/images/debs.list: real-node-force
	@mkdir -p $(@D); echo '$(IMAGE_DEBS)' | cmp -s - $@ || echo '$(IMAGE_DEBS)' >$@
.PHONY: real-node-force
real-node-force:

# iptables' names are Debian alternatives (made at install time): made here
# for the nft backend, which kube-proxy's nftables mode and the CNI portmap
# plugin then share.
$(NODE_ROOT)/.unpacked: $(BIN)/node/debs.list $(IMAGE_TOOLS)/debs.sh
	$(IMAGE_TOOLS)/debs.sh $(DEB_CACHE) $(NODE_ROOT) $(NODE_DEBS)
	for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \
		ln -sf xtables-nft-multi $(NODE_ROOT)/usr/sbin/$$t; done
	touch $@

$(IMAGES_DIR)/.debroot/.unpacked: $(BIN)/images/debs.list $(IMAGE_TOOLS)/debs.sh
	$(IMAGE_TOOLS)/debs.sh $(DEB_CACHE) $(@D) $(IMAGE_DEBS)
	touch $@

$(PACK): $(IMAGE_TOOLS)/go.mod $(IMAGE_TOOLS)/go.sum $(wildcard $(IMAGE_TOOLS)/pack/*.go $(IMAGE_TOOLS)/cmd/pack/*.go)
	cd $(IMAGE_TOOLS) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@ ./cmd/pack

# pause and probe: one static Go program each, alone in the image.
$(IMAGES_DIR)/pause/config.json $(IMAGES_DIR)/probe/config.json: $(IMAGES_DIR)/%/config.json: $(IMAGE_TOOLS)/cmd/%/main.go $(IMAGE_TOOLS)/go.mod
	rm -rf $(@D) && mkdir -p $(@D)/rootfs
	cd $(IMAGE_TOOLS) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(@D)/rootfs/$* ./cmd/$*
	echo '{"ref": "harborha.local/$*", "entrypoint": ["/$*"]}' >$@

# dbproxy: harborha-dbproxy, the database proxy sidecar the post-render
# adds with --database-proxy-image (internal/dbproxy), alone in the image,
# built by scripts/build.sh as the plugin is (static, reproducible).
DBPROXY_SOURCES := $(wildcard cmd/harborha-dbproxy/*.go internal/dbproxy/*.go internal/dbproxy/contract/*.go) go.mod go.sum plugin.yaml
$(IMAGES_DIR)/dbproxy/config.json: $(DBPROXY_SOURCES) scripts/build.sh
	rm -rf $(@D) && mkdir -p $(@D)/rootfs
	GO=$(GO) sh scripts/build.sh $(@D)/rootfs harborha-dbproxy
	echo '{"ref": "harborha.local/dbproxy", "entrypoint": ["/harborha-dbproxy"]}' >$@

# postgres, redis, tools: Debian's binaries with their libraries.
$(IMAGES_DIR)/postgres/config.json $(IMAGES_DIR)/redis/config.json $(IMAGES_DIR)/tools/config.json: $(IMAGES_DIR)/%/config.json: \
		$(IMAGES_DIR)/.debroot/.unpacked $(wildcard $(IMAGE_TOOLS)/rootfs/*)
	$(IMAGE_TOOLS)/rootfs/rootfs.sh $* $(@D) $(IMAGES_DIR)/.debroot

$(COREDNS): $(CURDIR)/tools/coredns/go.mod $(CURDIR)/tools/coredns/go.sum $(CURDIR)/tools/coredns/main.go
	cd tools/coredns && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@ .

$(IMAGES_DIR)/coredns/config.json: $(COREDNS)
	rm -rf $(@D) && mkdir -p $(@D)/rootfs
	cp $< $(@D)/rootfs/coredns
	echo '{"ref": "harborha.local/coredns", "entrypoint": ["/coredns"]}' >$@
