package discover

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// Formats of Render.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// Render formats a result: a table for people, JSON or YAML for tools.
// No format prints a password: Endpoint.Password is never serialised.
func Render(r *Result, format string) ([]byte, error) {
	switch format {
	case "", FormatTable:
		return table(r), nil
	case FormatJSON:
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	case FormatYAML:
		return yaml.Marshal(r)
	}
	return nil, fmt.Errorf("-o %q: use table, json or yaml", format)
}

func table(r *Result) []byte {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tENGINE\tKUBEBLOCKS\tPHASE\tREPLICAS\tPRIMARY\tADDRESS\tSECRET\tHEALTH")
	for _, e := range []*Endpoint{r.PostgreSQL, r.Redis} {
		if e == nil {
			continue
		}
		health := "ok"
		if !e.Healthy() {
			health = strings.Join(e.Problems, "; ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Ref(), e.Engine, e.KubeBlocks, or(e.Phase, "-"),
			strconv.Itoa(e.Replicas), or(e.PrimaryPod, "-"), e.Addr()+" ("+e.Service+")", e.Secret, health)
		if s := e.Sentinel; s != nil {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Ref(), "redis-sentinel", e.KubeBlocks, "-", "-", "master "+s.MasterSet,
				s.Addr()+" ("+s.Service+")", s.Secret, "-")
		}
	}
	w.Flush()
	return b.Bytes()
}
