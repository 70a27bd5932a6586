package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The real node's configuration files. Each setting that differs from the
// defaults says why; ../shared/e2e/REAL-NODE.md has the traps behind them.

// containerdConfig is containerd 1.6's configuration (version 2): every
// path its own (nothing under /var/lib/containerd or /run/containerd), the
// locally built pause image (nothing can be pulled here), and
// restrict_oom_score_adj: without CAP_SYS_RESOURCE every sandbox fails
// with "can't get final child's PID from pipe: EOF".
func containerdConfig(dir, nodeRoot, pauseRef string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %[7]q
        Root = %[8]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[9]q
    conf_dir = %[10]q
`,
		filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"),
		containerdSocket(dir), containerdSocket(dir)+".ttrpc", filepath.Join(dir, "containerd", "opt"),
		pauseRef, filepath.Join(nodeRoot, "usr/sbin/runc"), filepath.Join(dir, "containerd", "runc"),
		filepath.Join(nodeRoot, "usr/lib/cni"), filepath.Join(dir, "cni", "net.d"))
}

func containerdSocket(dir string) string { return filepath.Join(dir, "containerd", "containerd.sock") }

// cniConfig is the pod network: a bridge with the node's pod CIDR as
// gateway, hairpin on (a pod reaching itself through its Service), no
// masquerade (pods talk to the node and each other only; nothing leaves
// the host), and portmap for hostPorts.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "harborha",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, PodCIDR, filepath.Join(dir, "cni", "ipam"))
}

// kubeletConfig is the KubeletConfiguration. cgroup v1 must be allowed
// (failCgroupV1), oomScoreAdj 0 (no CAP_SYS_RESOURCE), images are never
// collected and evictions never happen (nothing can be pulled back), the
// node lease renews every 2 s (the controller-manager's grace period is
// 10 s), pods resolve names with the cluster's DNS when it runs (dns.go)
// and never with the host's resolvers (not reachable, and must not be),
// and every directory is the node's own.
func kubeletConfig(dir, socket string, dns bool) string {
	clusterDNS := "[]"
	if dns {
		clusterDNS = "[" + DNSIP + "]"
	}
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%[1]s
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
oomScoreAdj: 0
address: %[2]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
failSwapOn: false
evictionHard: {memory.available: "1%%", nodefs.available: "1%%", nodefs.inodesFree: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podCIDR: %[3]s
clusterDNS: %[7]s
clusterDomain: %[8]s
resolvConf: ""
protectKernelDefaults: false
containerRuntimeEndpoint: unix://%[4]s
podLogsDir: %[5]s
volumePluginDir: %[6]s
nodeLeaseDurationSeconds: 8
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 1m
serializeImagePulls: false
maxPods: 110
`, realCgroup, NodeIP, PodCIDR, socket, filepath.Join(dir, "kubelet", "pod-logs"), filepath.Join(dir, "kubelet", "volume-plugins"),
		clusterDNS, ClusterDomain)
}

// kubeProxyConfig is kube-proxy's configuration: nftables mode (its rules
// in one table of the node's namespace), conntrack sysctls left alone,
// oomScoreAdj 0 (no CAP_SYS_RESOURCE), ports on the node's loopback.
func kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: %q
hostnameOverride: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: %s
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, NodeName, PodCIDR)
}

// writeAPIServerCerts writes what the API server serves with into dir, in
// envtest's layout (apiserver.crt/key, sa-signer.crt/key): a CA of our own
// and a serving certificate for every name pods and the host use — the
// kubernetes Service's ClusterIP and DNS names, HostIP, loopback. envtest's
// own certificate names only localhost, so pods (which connect to
// https://10.96.0.1) would refuse it. Returns the CA in PEM.
func writeAPIServerCerts(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "harborha real node CA"},
		NotBefore: now, NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, svcNet, _ := net.ParseCIDR(ServiceCIDR)
	kubernetesIP := append(net.IP(nil), svcNet.IP.To4()...)
	kubernetesIP[3]++ // the first address: the kubernetes Service
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now, NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP(HostIP), net.ParseIP("127.0.0.1"), kubernetesIP},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saTmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "service-accounts"}, NotBefore: now, NotAfter: now.Add(7 * 24 * time.Hour)}
	saDER, err := x509.CreateCertificate(rand.Reader, saTmpl, saTmpl, &saKey.PublicKey, saKey)
	if err != nil {
		return nil, err
	}
	caPEM := pemBlock("CERTIFICATE", caDER)
	for name, data := range map[string][]byte{
		"ca.crt":        caPEM,
		"apiserver.crt": append(pemBlock("CERTIFICATE", der), caPEM...),
		"apiserver.key": ecKeyPEM(key),
		"sa-signer.crt": pemBlock("CERTIFICATE", saDER),
		"sa-signer.key": ecKeyPEM(saKey),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func ecKeyPEM(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalECPrivateKey(k)
	return pemBlock("EC PRIVATE KEY", der)
}

// nodeEnv is the environment of the node's processes: the Debian tools
// unpacked in nodeRoot first on PATH, with their libraries.
func nodeEnv(nodeRoot string) string {
	path := strings.Join([]string{
		filepath.Join(nodeRoot, "usr/sbin"), filepath.Join(nodeRoot, "usr/bin"),
		"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
	}, ":")
	lib := filepath.Join(nodeRoot, "usr/lib/x86_64-linux-gnu")
	// iptables finds its extensions (match "comment", ...) through
	// XTABLES_LIBDIR when it is not installed where it was built for.
	return fmt.Sprintf("export PATH=%s LD_LIBRARY_PATH=%s XTABLES_LIBDIR=%s; ", shellQuote(path), shellQuote(lib), shellQuote(filepath.Join(lib, "xtables")))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
