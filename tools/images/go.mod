// Tools module for the real node's images (internal/kubetest's StartRealCluster):
// the packer that turns an image directory (rootfs/ + config.json, see
// IMAGES-CONTRACT in the Makefile's real-node block) into an image tarball
// for `ctr images import`, and the small programs of our own images (pause,
// probe). A separate module so that go-containerregistry stays out of the
// product's go.mod. Built by `make images` (see the Makefile).
module github.com/harborha/helm-harborha/tools/images

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
