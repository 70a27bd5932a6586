package values

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/harborha/helm-harborha/internal/chartref"
)

// Chart is what the overlay needs to know about the target goharbor chart.
type Chart struct {
	Version       string // "" when not known
	Source        string // how it was learnt, for the header
	RedisUsername bool   // the chart has redis.external.username
}

// usernameSince is the first chart with redis.external.username
// (goharbor/harbor-helm#1143, milestone 1.12.0).
var usernameSince = semver.MustParse("1.12.0")

// LatestChart is assumed without --chart or --chart-version: the chart
// versions this project targets (1.19.x) have the username key.
func LatestChart() Chart {
	return Chart{Source: "assumed current (no --chart or --chart-version)", RedisUsername: true}
}

// Describe is the chart for the header.
func (c Chart) Describe() string {
	if c.Version == "" {
		return "harbor chart " + c.Source
	}
	return fmt.Sprintf("harbor %s (%s)", c.Version, c.Source)
}

// ChartFromVersion is --chart-version.
func ChartFromVersion(v string) (Chart, error) {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return Chart{}, fmt.Errorf("--chart-version %q: not a chart version (e.g. 1.19.1)", v)
	}
	return Chart{Version: sv.String(), Source: "--chart-version", RedisUsername: !sv.LessThan(usernameSince)}, nil
}

// ChartFromPath is --chart: a chart directory or .tgz, loaded with Helm's
// loader. The username question is answered by the chart's own values.
func ChartFromPath(path string) (Chart, error) {
	ch, err := chartref.Load(path, "--chart "+path)
	if err != nil {
		return Chart{}, err
	}
	return ChartFromLoaded(ch, "--chart "+path)
}

// ChartFromLoaded is a chart already loaded (export has the very chart it
// renders); source names where it came from in messages and the header.
func ChartFromLoaded(ch *chart.Chart, source string) (Chart, error) {
	if ch.Metadata == nil || ch.Metadata.Name != "harbor" {
		name := ""
		if ch.Metadata != nil {
			name = ch.Metadata.Name
		}
		return Chart{}, fmt.Errorf("%s: chart %q is not goharbor's harbor chart", source, name)
	}
	_, has := nested(ch.Values, "redis", "external", "username")
	return Chart{Version: ch.Metadata.Version, Source: source, RedisUsername: has}, nil
}

func nested(m map[string]any, keys ...string) (any, bool) {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}
