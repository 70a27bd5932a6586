package discover

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes the result as a table for people (-o text); -o json and
// yaml encode the Result itself. No form prints a password:
// Endpoint.Password is never serialised.
func (r *Result) WriteText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tENGINE\tKUBEBLOCKS\tPHASE\tREPLICAS\tPRIMARY\tADDRESS\tSECRET\tHEALTH")
	for _, e := range []*Endpoint{r.PostgreSQL, r.Redis} {
		if e == nil {
			continue
		}
		health := "ok"
		if !e.Healthy() {
			health = strings.Join(e.Problems, "; ")
		}
		engine := cmp.Or(e.Server, string(e.Engine))
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Ref(), engine, e.KubeBlocks, cmp.Or(e.Phase, "-"),
			strconv.Itoa(e.Replicas), cmp.Or(e.PrimaryPod, "-"), e.Addr()+" ("+e.Service+")", e.Secret, health)
		if s := e.Sentinel; s != nil {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Ref(), engine+"-sentinel", e.KubeBlocks, "-", "-", "master "+s.MasterSet,
				s.Addr()+" ("+s.Service+")", s.Secret, "-")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return writeUnusable(out, r.Unusable)
}

// writeUnusable lists, under the table, the clusters Harbor cannot use.
func writeUnusable(out io.Writer, list []Unusable) error {
	if len(list) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nNOT USABLE BY HARBOR\tENGINE\tREASON")
	for _, u := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\n", u.Ref(), u.Engine, u.Reason)
	}
	return w.Flush()
}
