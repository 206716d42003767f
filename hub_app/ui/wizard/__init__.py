"""The add-light wizard (``AddLightWizard``): the Qt view of the provisioning flow."""

from .dialog import AddLightWizard
from .form_view import FormView

__all__ = ["AddLightWizard", "FormView"]
