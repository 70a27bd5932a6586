package harbor

import (
	"fmt"
	"regexp"
	"testing"
)

// oldURLRE is what doctor and lint searched text with before
// RedisURLsIn (lint's also took "redis+anything://").
var oldURLRE = regexp.MustCompile(`rediss?(\+sentinel)?://[^\s"'<>]+`)

func TestRedisURLsIn(t *testing.T) {
	for _, tt := range []struct {
		text  string
		hosts string // each URL's hosts
	}{
		{"redis://:pw@h:6379/0?idle_timeout_seconds=30", "[[h:6379]]"},
		{`redis_url: "redis://:pw@h:6379/1"` + "\n", "[[h:6379]]"},
		{"a rediss+sentinel://s1:26379,s2/mymaster/0 b", "[[s1:26379 s2]]"},
		{"redis://h/0\nredis://g/1", "[[h] [g]]"},
		{"redis:// redis://x", "[[x]]"}, // nothing after the first scheme
		{"xredis://h", "[[h]]"},
		{"redis+foo://x REDIS://x http://redis/", "[]"},
		{"redis:///0", "[]"}, // no address
		{"<redis://h>", "[[h]]"},
	} {
		var got [][]string
		for _, u := range RedisURLsIn(tt.text) {
			got = append(got, u.Hosts)
		}
		if fmt.Sprint(got) != tt.hosts {
			t.Errorf("%q: %v, want %s", tt.text, got, tt.hosts)
		}
		var old [][]string
		for _, s := range oldURLRE.FindAllString(tt.text, -1) {
			if u, ok := ParseRedisURL(s); ok {
				old = append(old, u.Hosts)
			}
		}
		if fmt.Sprint(old) != fmt.Sprint(got) {
			t.Errorf("%q: %v, the regexp found %v", tt.text, got, old)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	u, ok := ParseRedisURL("rediss+sentinel://harbor:p%40ss@s1:26379,s2:26379/mymaster/0?x=1")
	if !ok || u.Scheme != "rediss+sentinel" || u.User != "harbor" || u.Password != "p@ss" || fmt.Sprint(u.Hosts) != "[s1:26379 s2:26379]" || u.Rest != "/mymaster/0?x=1" || !u.Sentinel() {
		t.Errorf("%+v %v", u, ok)
	}
	for _, s := range []string{"http://h", "redis+foo://h", "redis:///0", "Redis://h", ""} {
		if _, ok := ParseRedisURL(s); ok {
			t.Errorf("%q read as a Redis URL", s)
		}
	}
}

func TestIsReference(t *testing.T) {
	for s, want := range map[string]bool{
		"$(P)":      true,
		"$(A_B-1)":  true,
		"$(P)x$(Q)": false, // P's value, "x", Q's value
		"$(P)$(Q)":  false,
		"x$(P)":     false,
		"$$(P)":     false, // the text "$(P)"
		"$()":       false, // names no variable
		"$(P":       false,
		"pw":        false,
		"":          false,
	} {
		if got := IsReference(s); got != want {
			t.Errorf("IsReference(%q) = %v, want %v", s, got, want)
		}
	}
	for pw, plain := range map[string]bool{"": false, "$(P)": false, "pw": true, "$(P)x$(Q)": true} {
		if got := (RedisURL{Password: pw}).PlainPassword(); got != plain {
			t.Errorf("password %q: PlainPassword %v, want %v", pw, got, plain)
		}
	}
}
