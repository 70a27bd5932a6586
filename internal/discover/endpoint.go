package discover

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/kube"
)

// What Harbor connects to, per engine: the main service's port (by name,
// else number) and the application account (REFERENCE.md §3.1, §4).
type engineFacts struct {
	portName string
	port     int32
	account  string
}

// facts are the engine's; a Redis-protocol server names its ports after
// itself: redis and redis-sentinel, valkey and valkey-sentinel.
func (c kbCluster) facts(e Engine) engineFacts {
	if e == PostgreSQL {
		return engineFacts{portName: "tcp-postgresql", port: 5432, account: "postgres"} // not tcp-pgbouncer 6432
	}
	return engineFacts{portName: c.redisServer().name, port: 6379, account: "default"}
}

func (c kbCluster) sentinelFacts() engineFacts {
	return engineFacts{portName: c.redisServer().sentinel, port: 26379, account: "default"}
}

// endpoint resolves the service, credentials, primary pod and health of a cluster.
func (d *discoverer) endpoint(c kbCluster, e Engine, objs *nsObjects) (*Endpoint, error) {
	comp, ok := c.dataComponent(e)
	if !ok {
		return nil, fmt.Errorf("%s cluster %s/%s has no %s component (components: %s); name the cluster with the %s data in it",
			e.Title(), c.namespace, c.name, e, componentNames(c), e.Title())
	}
	f := c.facts(e)
	var pods []podLabels
	ep := &Endpoint{
		Cluster:    c.name,
		Namespace:  c.namespace,
		Engine:     e,
		Component:  comp.name,
		APIVersion: ClusterGroup + "/" + c.apiVersion,
		Phase:      c.phase,
		Replicas:   comp.replicas,
	}
	if server := c.server(); server != string(e) {
		ep.Server = server
	}
	var primaries, subdomains []string
	for _, p := range objs.pods {
		if p.Labels[LabelInstance] != c.name {
			continue
		}
		pods = append(pods, p.Labels)
		if p.Labels[LabelComponent] != comp.name {
			continue
		}
		if p.Labels[LabelRole] == RolePrimary {
			primaries = append(primaries, p.Name)
		}
		if sub := p.Spec.Subdomain; sub != "" {
			subdomains = append(subdomains, fmt.Sprintf("%s.%s.svc:%d", sub, c.namespace, podPort(&p, f)))
		}
	}
	sort.Strings(primaries)
	sort.Strings(subdomains)
	if subdomains = slices.Compact(subdomains); len(subdomains) == 1 {
		ep.Pods = subdomains[0]
	}
	ep.KubeBlocks = c.shape(pods)

	svc, port, err := d.service(c, comp.name, f, e.Title(), true, objs)
	if err != nil {
		return nil, err
	}
	ep.Service, ep.ClusterIP, ep.Port = svc.Name, svc.Spec.ClusterIP, int(port)
	ep.Host = d.host(svc)

	sec, err := d.credentials(c, comp.name, f.account, e.Title(), objs)
	if err != nil {
		return nil, err
	}
	ep.Secret = sec.Name
	user, pw, err := credentialKeys(sec)
	if err != nil {
		return nil, err
	}
	ep.Username, ep.Password = user, pw
	d.health(ep, c.phase, comp, primaries)
	return ep, nil
}

// health records the cluster's problems (its phase, no primary pod) and
// warns of what is not highly available.
func (d *discoverer) health(ep *Endpoint, phase string, comp kbComponent, primaries []string) {
	if p := phaseProblem(phase); p != "" {
		ep.Problems = append(ep.Problems, p)
	}
	switch len(primaries) {
	case 0:
		ep.Problems = append(ep.Problems, fmt.Sprintf("no pod of component %s has the label %s=%s", comp.name, LabelRole, RolePrimary))
	case 1:
		ep.PrimaryPod = primaries[0]
	default:
		ep.PrimaryPod = primaries[0]
		d.warnf("%s cluster %s: %d pods carry %s=%s (%s): a failover may be in progress", ep.Engine.Title(), ep.Ref(), len(primaries), LabelRole, RolePrimary, strings.Join(primaries, ", "))
	}
	if comp.replicas < 2 {
		d.warnf("%s cluster %s has %d replica in component %s: not highly available, Harbor stops when that pod does; scale the component to 2 or more replicas", ep.Engine.Title(), ep.Ref(), comp.replicas, comp.name)
	}
}

func componentNames(c kbCluster) string {
	if len(c.components) == 0 {
		return "none"
	}
	var n []string
	for _, comp := range c.components {
		n = append(n, comp.name)
	}
	return strings.Join(n, ", ")
}

// service picks the component's ClusterIP service; wantPrimary requires
// its selector to pick the primary (kubeblocks.io/role=primary), so that
// the address follows failovers.
func (d *discoverer) service(c kbCluster, comp string, f engineFacts, title string, wantPrimary bool, objs *nsObjects) (*corev1.Service, int32, error) {
	type cand struct {
		svc  *corev1.Service
		port int32
	}
	var good []cand
	var seen []string
	for i := range objs.services {
		s := &objs.services[i]
		if s.Labels[LabelInstance] != c.name || s.Labels[LabelComponent] != comp {
			continue
		}
		why := ""
		port := servicePort(s, f)
		switch {
		case s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP:
			why = string(s.Spec.Type)
		case s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone:
			why = "headless"
		case wantPrimary && s.Spec.Selector[LabelRole] != RolePrimary:
			why = "does not select the primary"
		case port == 0:
			why = fmt.Sprintf("no port %s/%d", f.portName, f.port)
		}
		if why != "" {
			seen = append(seen, s.Name+" ("+why+")")
			continue
		}
		good = append(good, cand{s, port})
	}
	if len(good) == 0 {
		found := "none"
		if len(seen) > 0 {
			sort.Strings(seen)
			found = strings.Join(seen, ", ")
		}
		need := "a ClusterIP service"
		if wantPrimary {
			need = fmt.Sprintf("a ClusterIP service selecting %s=%s", LabelRole, RolePrimary)
		}
		return nil, 0, fmt.Errorf("%s cluster %s/%s: component %s has no usable service: need %s with port %s (%d), found: %s; check that KubeBlocks finished creating the cluster",
			title, c.namespace, c.name, comp, need, f.portName, f.port, found)
	}
	// Several (user-added services): prefer KubeBlocks' own names
	// <c>-<comp> (0.7/0.8/legacy) and <c>-<comp>-<serviceName> (0.9 topology/1.0).
	sort.Slice(good, func(i, j int) bool {
		pi, pj := nameRank(good[i].svc.Name, c.name, comp), nameRank(good[j].svc.Name, c.name, comp)
		if pi != pj {
			return pi < pj
		}
		return good[i].svc.Name < good[j].svc.Name
	})
	return good[0].svc, good[0].port, nil
}

func nameRank(svc, cluster, comp string) int {
	base := cluster + "-" + comp
	switch {
	case svc == base+"-"+comp || svc == base:
		return 0
	case strings.HasPrefix(svc, base+"-"):
		return 1
	}
	return 2
}

// podPort is the port the engine listens on in pod p: by name, else its
// default number.
func podPort(p *corev1.Pod, f engineFacts) int32 {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == f.portName {
				return port.ContainerPort
			}
		}
	}
	return f.port
}

// servicePort is the port Harbor uses: by name, else by number.
func servicePort(s *corev1.Service, f engineFacts) int32 {
	for _, p := range s.Spec.Ports {
		if p.Name == f.portName {
			return p.Port
		}
	}
	for _, p := range s.Spec.Ports {
		if p.Port == f.port {
			return p.Port
		}
	}
	return 0
}

func (d *discoverer) host(s *corev1.Service) string {
	if d.o.Address == AddressDNS {
		return s.Name + "." + s.Namespace + ".svc"
	}
	return s.Spec.ClusterIP
}

// credentials finds the application credential: <c>-conn-credential
// (0.7, 0.8 and 0.9 legacy API), else the component's account secret
// <c>-<comp>-account-<account> (0.8 componentDef, 0.9 topology, 1.0),
// matched by labels or by name.
func (d *discoverer) credentials(c kbCluster, comp, account, title string, objs *nsObjects) (*corev1.Secret, error) {
	conn := c.name + "-conn-credential"
	acctName := c.name + "-" + comp + "-account-" + account
	var byLabel, byName *corev1.Secret
	for i := range objs.secrets {
		s := &objs.secrets[i]
		if s.Name == conn {
			return s, nil
		}
		if s.Labels[LabelInstance] == c.name && s.Labels[LabelComponent] == comp &&
			(s.Labels[labelAccount08] == account || s.Labels[labelAccount10] == account) {
			if byLabel == nil || s.Name == acctName {
				byLabel = s
			}
		}
		if s.Name == acctName {
			byName = s
		}
	}
	if byLabel != nil {
		return byLabel, nil
	}
	if byName != nil {
		return byName, nil
	}
	return nil, fmt.Errorf("%s cluster %s/%s: credential secret missing: expected %s (KubeBlocks 0.7/0.8 or the legacy API) or %s (0.9 topology, 1.0) with labels %s=%s; check that KubeBlocks finished creating the cluster",
		title, c.namespace, c.name, conn, acctName, LabelInstance, c.name)
}

// credentialKeys reads username and password from a credential secret.
func credentialKeys(s *corev1.Secret) (string, Password, error) {
	var missing []string
	user := string(s.Data["username"])
	pw := s.Data["password"]
	if user == "" {
		missing = append(missing, "username")
	}
	if len(pw) == 0 {
		missing = append(missing, "password")
	}
	if len(missing) > 0 {
		return "", Password{}, fmt.Errorf("secret %s/%s has no (or an empty) %s: KubeBlocks writes both username and password; restore the secret or recreate the account", s.Namespace, s.Name, strings.Join(missing, " and "))
	}
	return user, NewPassword(string(pw)), nil
}

// sentinel adds the Sentinel addresses, when the passwords allow it:
// Harbor sends one user and password to both Sentinel and the master
// (REFERENCE.md §5). KubeBlocks 0.7/0.8 (legacy) share the password;
// 0.9+ give Sentinel its own account.
func (d *discoverer) sentinel(c kbCluster, ep *Endpoint, objs *nsObjects) error {
	sc, ok := c.sentinelComponent()
	if !ok {
		return fmt.Errorf("--redis-sentinel: Redis cluster %s has no %s component (components: %s); drop --redis-sentinel to use the primary service %s", ep.Ref(), c.redisServer().sentinel, componentNames(c), ep.Service)
	}
	sf := c.sentinelFacts()
	svc, port, err := d.service(c, sc.name, sf, "Redis Sentinel of", false, objs)
	if err != nil {
		return err
	}
	master := c.name + "-" + ep.Component
	if data, ok := c.dataComponent(Redis); ok && data.env[envSentinelMaster] != "" {
		master = data.env[envSentinelMaster]
	}
	secret := ep.Secret
	if !strings.HasSuffix(ep.Secret, "-conn-credential") {
		s, err := d.credentials(c, sc.name, sf.account, "Redis Sentinel of", objs)
		if err != nil {
			return fmt.Errorf("--redis-sentinel: %v; drop --redis-sentinel to use the primary service %s", err, ep.Service)
		}
		_, pw, err := credentialKeys(s)
		if err != nil {
			return err
		}
		if !pw.equal(ep.Password) {
			return fmt.Errorf("--redis-sentinel: Redis cluster %s gives Sentinel its own account (secret %s) with a password different from Redis's (secret %s), as KubeBlocks 0.9+ does; Harbor sends one password to both, so Sentinel cannot work: drop --redis-sentinel to use the primary service %s (it follows failovers), or make both components share one password (systemAccounts secretRef)",
				ep.Ref(), s.Name, ep.Secret, ep.Service)
		}
		secret = s.Name
	}
	ep.Sentinel = &Sentinel{Service: svc.Name, Host: d.host(svc), Port: int(port), MasterSet: master, Secret: secret}
	return nil
}

// NodeAddress is the InternalIP of a node, for externalURL: the first
// Ready node by name, else the first with an InternalIP. The nodes are
// list's (nil: one request for one page).
func NodeAddress(ctx context.Context, c *kube.Client, list func(context.Context) ([]corev1.Node, error)) (string, error) {
	if list == nil {
		list = func(ctx context.Context) ([]corev1.Node, error) {
			// One page is enough to find an address, however large the cluster.
			l, err := c.Typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 100})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		}
	}
	nodes, err := list(ctx)
	if err != nil {
		return "", fmt.Errorf("cannot find a node address for externalURL: %w; or pass --external-url", c.Explain(err, kube.Op{Verb: "list", Resource: "nodes"}))
	}
	nodes = slices.Clone(nodes)
	sort.Slice(nodes, func(i, j int) bool {
		ri, rj := kube.NodeReady(&nodes[i]), kube.NodeReady(&nodes[j])
		if ri != rj {
			return ri
		}
		return nodes[i].Name < nodes[j].Name
	})
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("no node of %s has an InternalIP address (nodes: %d): pass --external-url http://HOST:PORT", c.Where(), len(nodes))
}
