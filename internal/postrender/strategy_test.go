package postrender

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// A Deployment whose chart values already require its replicas on
// distinct nodes rolls without a surge pod whatever --anti-affinity says:
// with as many nodes as replicas the surge pod finds no node and the
// rollout waits forever (shown on the simulated cluster by helmrun's
// TestSimValuesAloneDeadlocks). A required term for other pods changes
// nothing.
func TestValuesHardAntiAffinityRollsWithoutSurge(t *testing.T) {
	const own = `
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {matchLabels: {app: harbor, component: core}}
              topologyKey: kubernetes.io/hostname
`
	others := strings.Replace(own, "component: core", "component: portal", 1)
	tests := []struct {
		name, affinity, antiAffinity string
		wantNoSurge                  bool
	}{
		{"own pods, soft flag", own, AntiAffinitySoft, true},
		{"own pods, none", own, AntiAffinityNone, true},
		{"other pods, soft flag", others, AntiAffinitySoft, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(deployment, "    spec:\n", "    spec:"+tt.affinity, 1)
			in = strings.Replace(in, "replicas: 1", "replicas: 3", 1)
			o := DefaultKnobs()
			o.AntiAffinity = tt.antiAffinity
			out, _ := postRender(t, o, []byte(in))
			var d appsv1.Deployment
			if err := yaml.Unmarshal([]byte(firstDoc(string(out), "kind: Deployment")), &d); err != nil {
				t.Fatal(err)
			}
			ru := d.Spec.Strategy.RollingUpdate
			noSurge := ru != nil && ru.MaxSurge != nil && ru.MaxSurge.IntValue() == 0 && ru.MaxUnavailable != nil && ru.MaxUnavailable.IntValue() == 1
			if noSurge != tt.wantNoSurge {
				t.Errorf("strategy %+v: maxSurge 0/maxUnavailable 1 is %t, want %t", d.Spec.Strategy, noSurge, tt.wantNoSurge)
			}
		})
	}
}

// firstDoc is the first document of a stream that contains marker.
func firstDoc(stream, marker string) string {
	for _, doc := range strings.Split(stream, "\n---\n") {
		if strings.Contains(doc, marker) {
			return doc
		}
	}
	return ""
}
