"""Radio exports for producers: PDF, DOCX and TXT scripts, CSV/XLSX traffic logs."""
