"""What both frameworks share: input validation, serializers, error bodies and the
TechEmpower rules, so endpoint behaviour cannot drift between variants."""
