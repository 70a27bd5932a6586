package lint

import (
	"fmt"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Rule is one check. Its id never changes meaning once released: CI
// configurations and lint-ignore annotations refer to it.
type Rule struct {
	ID       string
	Severity Severity // the default; some rules report trivy and exporter as warnings
	Title    string
	Fix      string // one sentence: what to change
	// SeverityNote explains a severity that depends on the component.
	SeverityNote string
	// ValidateOnly rules come from the API server (--validate), not from
	// reading the manifests.
	ValidateOnly bool

	check func(c *checker)
}

// Rule ids of the server-side checks.
const (
	ruleRejected     = "HA100"
	ruleServerWarned = "HA101"
)

const lessCritical = "warning for trivy and exporter"

// Rules is the rule table, in id order.
var Rules = []*Rule{
	{
		ID: "HA001", Severity: Error, SeverityNote: lessCritical,
		Title: "Component runs fewer than 2 replicas",
		Fix:   "Set `<component>.replicas` to 2 or more in the chart values, or post-render with `helm harborha post-render --replicas 2`.",
		check: checkReplicas,
	},
	{
		ID: "HA002", Severity: Error, SeverityNote: lessCritical,
		Title: "Replicas are not spread: no pod anti-affinity and no topology spread constraint",
		Fix:   "Give the component a pod anti-affinity term or a topology spread constraint on its own pod labels (`<component>.affinity`, `<component>.topologySpreadConstraints`), or post-render with `helm harborha post-render`.",
		check: checkSpread,
	},
	{
		ID: "HA003", Severity: Error,
		Title: "Anti-affinity term, spread constraint or PodDisruptionBudget does not select the component's pods",
		Fix:   "Make the selector use labels the pods really carry: release, app and component (the workload's own spec.selector).",
		check: checkSelectors,
	},
	{
		ID: "HA004", Severity: Error, SeverityNote: lessCritical,
		Title: "Multi-replica component has no PodDisruptionBudget",
		Fix:   "Enable `<component>.podDisruptionBudget` (chart 1.19 and later), or post-render with `helm harborha post-render`, which adds one.",
		check: checkPDBPresent,
	},
	{
		ID: "HA005", Severity: Error,
		Title: "PodDisruptionBudget allows no disruption at all",
		Fix:   "Let at least one pod go: minAvailable below the replica count, or maxUnavailable of 1, and exactly one budget per component.",
		check: checkPDBAllows,
	},
	{
		ID: "HA006", Severity: Error,
		Title: "Recreate strategy on a multi-replica component",
		Fix:   "Use the RollingUpdate strategy (`updateStrategy.type` for registry and jobservice) with object storage or a ReadWriteMany claim, or post-render with `helm harborha post-render`.",
		check: checkRecreate,
	},
	{
		ID: "HA007", Severity: Error,
		Title: "Rollout strategy or PodDisruptionBudget the API server rejects",
		Fix:   "Fix the field as the message says; with Recreate, rollingUpdate must be absent (`helm harborha post-render` writes a valid shape).",
		check: checkShapes,
	},
	{
		ID: "HA008", Severity: Error,
		Title: "Several replicas on a ReadWriteOnce claim (Multi-Attach)",
		Fix:   "Use object storage (`persistence.imageChartStorage.type`) and `jobservice.jobLoggers: [database]`, or a ReadWriteMany claim (`helm harborha post-render --shared-pvc NAME`).",
		check: checkMultiAttach,
	},
	{
		ID: "HA009", Severity: Error,
		Title: "The chart's internal database or Redis is in use (one pod, not HA)",
		Fix:   "Use an external highly-available PostgreSQL and Redis (`database.type: external`, `redis.type: external`; `helm harborha values` writes both for KubeBlocks clusters).",
		check: checkInternal,
	},
	{
		ID: "HA010", Severity: Error,
		Title: "externalURL is not a domain root",
		Fix:   "Set `externalURL` to a scheme and host only, such as https://harbor.example.com: the chart serves Harbor at a domain root, never under a path.",
		check: checkExternalURL,
	},
	{
		ID: "HA011", Severity: Error,
		Title: "Redis points at a Redis Cluster",
		Fix:   "Point `redis.external.addr` at one Redis primary Service, or at Sentinels with `redis.external.sentinelMasterSet`: Harbor does not support Redis Cluster.",
		check: checkRedisCluster,
	},
	{
		ID: "HA012", Severity: Warning,
		Title: "Redis password in plain text in a ConfigMap",
		Fix:   "Post-render with `helm harborha post-render --redis-password-secret NAME[:KEY]` (the install wrappers do): pods then read the password from the Secret and no ConfigMap holds it.",
		check: checkRedisPlaintext,
	},
	{
		ID: "HA013", Severity: Error,
		Title: "Registry's Redis config lost the Sentinel master set",
		Fix:   "Add `redis.sentinelMasterSet` to the registry ConfigMap's config.yml (the chart drops it when Sentinel and Redis TLS are both on), or turn Redis TLS off.",
		check: checkRegistrySentinel,
	},
	{
		ID: "HA014", Severity: Error,
		Title: "Credential in plain text in a pod's env",
		Fix:   "Read it from a Secret (`valueFrom.secretKeyRef`); for Redis URLs, post-render with `helm harborha post-render --redis-password-secret NAME[:KEY]`, which rebuilds them with `$(VAR)` references.",
		check: checkEnvCredentials,
	},
	{
		ID: "HA015", Severity: Error,
		Title: "Replica count pinned on a workload a HorizontalPodAutoscaler scales",
		Fix:   "Drop spec.replicas from the workload's manifest so the autoscaler owns the count: post-render with `helm harborha post-render --autoscale <component>=MIN:MAX`, which writes the autoscaler and leaves replicas out.",
		check: checkPinnedUnderAutoscaler,
	},
	{
		ID: "HA016", Severity: Warning,
		Title: "Autoscaler scales on CPU, but the pods request no CPU",
		Fix:   "Give every container a CPU request (`<component>.resources.requests.cpu`; for registry `registry.registry.resources` and `registry.controller.resources`), or a LimitRange with a default CPU request in the namespace.",
		check: checkAutoscalerCPURequests,
	},
	{
		ID: "HA017", Severity: Error,
		Title: "Core's token service key is in a form Harbor cannot read",
		Fix:   "Give `core.tokenKey` (or the `core.secretName` Secret's tls.key) as a PKCS#1 RSA key: `openssl rsa -in key.pem -traditional -out key-rsa.pem` (OpenSSL 3 writes PKCS#8 by default); or leave it unset: the install wrappers generate a PKCS#1 key once.",
		check: checkTokenKey,
	},
	{
		ID: "HA018", Severity: Warning,
		Title: "The registry cannot log in to Redis as Harbor's Redis user",
		Fix:   "Use chart 1.19 or later, whose registry (Harbor 2.15) logs in as the user; or let Harbor log in with the cluster's own account (install or upgrade without --redis-user: the password stays by reference).",
		check: checkRegistryRedisUser,
	},
	{
		ID: "HA019", Severity: Error,
		Title: "Harbor's database connection pools can exceed PostgreSQL's max_connections",
		Fix:   "Size the pools to fit: post-render with `helm harborha post-render` (the install wrappers do; they read max_connections from the cluster), or set `database.maxOpenConns` to (max_connections - 10) / the pods of core, jobservice and exporter, a rollout's surge included.",
		check: checkConnectionBudget,
	},
	{
		ID: "HA020", Severity: Warning,
		Title: "Pooled database connections outlive a PostgreSQL switchover",
		Fix:   "Post-render with `helm harborha post-render` (the install wrappers do), which gives core a 2s connection lifetime, or set core's POSTGRESQL_CONN_MAX_LIFETIME to 10s or less (`core.extraEnvVars`).",
		check: checkConnectionLifetime,
	},
	{
		ID: ruleRejected, Severity: Error, ValidateOnly: true,
		Title: "The API server rejects the object (--validate)",
		Fix:   "Fix the object as the API server's message says; it would fail `helm install` the same way.",
	},
	{
		ID: ruleServerWarned, Severity: Warning, ValidateOnly: true,
		Title: "The API server warns about the object (--validate)",
		Fix:   "Act on the API server's warning (for example a deprecated API version or a PodSecurity violation).",
	},
}

// RuleByID returns the rule with the given id, or nil.
func RuleByID(id string) *Rule {
	for _, r := range Rules {
		if r.ID == strings.ToUpper(id) {
			return r
		}
	}
	return nil
}

// SeverityText is the severity as the rule table shows it.
func (r *Rule) SeverityText() string {
	if r.SeverityNote == "" {
		return r.Severity.String()
	}
	return r.Severity.String() + " (" + r.SeverityNote + ")"
}

// checker hands one rule the release and collects its findings.
type checker struct {
	docs       []*manifest.Doc
	model      *harbor.Release
	configMaps []*harbor.Source // the ConfigMaps chart workloads read
	redis      []redisUse       // where those configure Redis
	// maxConnections is the database's max_connections if known (the
	// post-render knob), else 0.
	maxConnections int
	rule           *Rule
	out            []Finding
}

// report adds a finding with the rule's severity and fix.
func (c *checker) report(d *manifest.Doc, format string, args ...any) {
	c.reportAs(d, c.rule.Severity, c.rule.Fix, fmt.Sprintf(format, args...))
}

// reportAs adds a finding with its own severity and fix sentence.
func (c *checker) reportAs(d *manifest.Doc, sev Severity, fix, msg string) {
	c.out = append(c.out, Finding{Rule: c.rule.ID, Severity: sev, Object: objectOf(d), Message: msg, Fix: fix, doc: d})
}

// forComponent fills in a component's values key in a fix sentence and
// gives trivy and exporter (scanning, metrics: Harbor serves images without
// them) the lower severity.
func (c *checker) forComponent(w *harbor.Workload, format string, args ...any) {
	sev := c.rule.Severity
	if harbor.Optional(w.Component) {
		sev = Warning
	}
	c.reportAs(w.Doc, sev, strings.ReplaceAll(c.rule.Fix, "<component>", w.Component), fmt.Sprintf(format, args...))
}
