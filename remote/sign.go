package remote

// signingPads returns the signing argument of the publishing scripts: the
// signer's inner and outer pads concatenated, or "" without a signer.
func signingPads(s interface{ Pads() (inner, outer []byte) }) string {
	if s == nil {
		return ""
	}
	inner, outer := s.Pads()
	if len(inner) != 64 || len(outer) != 64 {
		return ""
	}
	return string(inner) + string(outer)
}
