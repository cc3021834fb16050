"""NIRSpec optical-model WCS: reference readers, transforms, WCS builder, ASDF tags."""
