package server

import (
	"testing"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

var benchBody = []byte(`{"type":"login","user_id":"user-123456","ip":"216.160.83.56","device_id":"3f2c9a7e-device",` +
	`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",` +
	`"tenant":"brand-a","channel":"web","credentials_valid":true,"timestamp":"2026-11-21T10:00:00Z"}`)

func BenchmarkDecodeDecide(b *testing.B) {
	var p fastjson.Parser
	var ev features.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		ev.Reset()
		if ae := decodeDecide(&p, benchBody, &ev); ae != nil {
			b.Fatal(ae)
		}
	}
}

func BenchmarkEncodeDecision(b *testing.B) {
	d := engine.Decision{Action: rules.StepUp, Score: 45, EvaluationID: 0xdeadbeef, RulesVersion: "builtin-1",
		Reasons: []engine.Reason{
			{Code: "new_device", Rule: "new_device", Message: "The user has never logged in from this device.", Score: 25},
			{Code: "new_country", Rule: "new_country", Message: "The user has never logged in from this country.", Score: 20},
		}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendDecision(buf[:0], &d, 12, nil)
	}
}
