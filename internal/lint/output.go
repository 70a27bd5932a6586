package lint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/harborha/helm-harborha/internal/output"
)

// ToolName and InformationURI describe the linter in JSON and SARIF.
const (
	ToolName       = "harborha-lint"
	InformationURI = "https://github.com/harborha/helm-harborha"
)

// ANSI colours, used only when writing to a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

func (p painter) severity(s Severity) string {
	text := fmt.Sprintf("%-7s", s)
	if s == Error {
		return p.paint(ansiRed, text)
	}
	return p.paint(ansiYellow, text)
}

// reportDoc is a report as -o writes it: the -o json document, and the
// text form (findings grouped by object, objects in input order).
type reportDoc struct {
	Tool jsonTool `json:"tool"`
	*Report
	color bool
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// WriteText writes the findings for people.
func (d *reportDoc) WriteText(out io.Writer) error {
	var b bytes.Buffer
	writeText(&b, d.Report, d.color)
	_, err := out.Write(b.Bytes())
	return err
}

// writeText writes findings grouped by object, objects in input order.
func writeText(b *bytes.Buffer, r *Report, color bool) {
	p := painter(color)
	var last *Object
	for i := range r.Findings {
		f := &r.Findings[i]
		if last == nil || *last != f.Object {
			if last != nil {
				b.WriteString("\n")
			}
			head := f.Object.String()
			if loc := f.Location.String(); loc != "" {
				head += p.paint(ansiDim, " ("+loc+")")
			}
			b.WriteString(p.paint(ansiBold, head) + "\n")
			last = &f.Object
		}
		fmt.Fprintf(b, "  %s %s  %s\n", p.severity(f.Severity), f.Rule, f.Message)
		fmt.Fprintf(b, "  %s %s  %s\n", strings.Repeat(" ", 7), strings.Repeat(" ", len(f.Rule)), p.paint(ansiDim, "fix: "+f.Fix))
	}
	if len(r.Findings) > 0 {
		b.WriteString("\n")
	}
	s := r.Summary
	verdict := p.paint(ansiGreen, "lint passed")
	if s.Failed {
		verdict = p.paint(ansiRed, "lint failed")
	}
	fmt.Fprintf(b, "%s: %s, %s in %s", verdict, output.Count(s.Errors, "error"), output.Count(s.Warnings, "warning"), output.Count(s.Objects, "object"))
	if s.Suppressed > 0 {
		fmt.Fprintf(b, " (%d suppressed)", s.Suppressed)
	}
	b.WriteString("\n")
}

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the
// subset code-scanning services read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           map[string]string `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func writeSARIF(b *bytes.Buffer, r *Report, version string) error {
	driver := sarifDriver{Name: ToolName, Version: version, InformationURI: InformationURI}
	index := map[string]int{}
	for i, rule := range Rules {
		index[rule.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   rule.ID,
			Name:                 ruleName(rule),
			ShortDescription:     sarifText{rule.Title},
			FullDescription:      sarifText{rule.Title + ". Severity: " + rule.SeverityText() + "."},
			Help:                 sarifText{rule.Fix},
			DefaultConfiguration: sarifRuleConfig{Level: rule.Severity.String()},
		})
	}
	results := []sarifResult{}
	for _, f := range r.Findings {
		obj := f.Object.String()
		loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: f.Object.Name, FullyQualifiedName: obj, Kind: "resource"}}}
		// A file input points at the document; a rendered stream at the
		// chart template that made the object.
		switch {
		case f.Location.File != "" && f.Location.File != "<stdin>":
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(f.Location.File)}}
			if f.Location.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Location.Line}
			}
		case f.Location.Template != "":
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: f.Location.Template}}
		}
		sum := sha256.Sum256([]byte(f.Rule + "\x00" + obj))
		results = append(results, sarifResult{
			RuleID:              f.Rule,
			RuleIndex:           index[f.Rule],
			Level:               f.Severity.String(),
			Message:             sarifText{fmt.Sprintf("%s: %s Fix: %s", obj, f.Message, f.Fix)},
			Locations:           []sarifLocation{loc},
			PartialFingerprints: map[string]string{"harborhaObject/v1": hex.EncodeToString(sum[:16])},
		})
	}
	doc := sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}}
	return output.EncodeJSON(b, doc)
}

// ruleName is the rule's title in PascalCase, as SARIF names rules.
func ruleName(r *Rule) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(r.Title, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// writeRules writes the rule table (--list-rules).
func writeRules(b *bytes.Buffer, format output.Format) error {
	switch format {
	case output.JSON:
		type row struct {
			ID           string `json:"id"`
			Severity     string `json:"severity"`
			SeverityNote string `json:"severityNote,omitempty"`
			Title        string `json:"title"`
			Fix          string `json:"fix"`
			ValidateOnly bool   `json:"validateOnly,omitempty"`
		}
		rows := []row{}
		for _, r := range Rules {
			rows = append(rows, row{r.ID, r.Severity.String(), r.SeverityNote, r.Title, r.Fix, r.ValidateOnly})
		}
		return output.EncodeJSON(b, rows)
	case output.Text:
		for _, r := range Rules {
			fmt.Fprintf(b, "%s  %-7s  %s\n", r.ID, r.Severity, r.Title)
			if r.SeverityNote != "" {
				fmt.Fprintf(b, "%s  %-7s  (%s)\n", strings.Repeat(" ", len(r.ID)), "", r.SeverityNote)
			}
			fmt.Fprintf(b, "%s  %-7s  fix: %s\n", strings.Repeat(" ", len(r.ID)), "", r.Fix)
		}
		return nil
	}
	return fmt.Errorf("--list-rules prints text or json, not %s", format)
}
